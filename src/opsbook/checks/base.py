"""What a check kind is: a ``Params`` model, the resource kinds it accepts, and ``probe``.

A kind observes; it does not judge. ``probe`` returns observations (a JSON-able dict) and a
one-line summary. The runner evaluates the check's assertions against the observations
(``expect:`` from the config, else the kind's ``default_expect``), measures time, applies
the timeout and turns a ``ProbeError`` into an ``error`` result.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..config.logs import Logs
from ..config.models import CheckParams
from ..config.resources import Resource


@dataclass
class Probe:
    """What a kind saw. Durations in observations are milliseconds."""

    observations: dict[str, Any]
    summary: str = ""


@dataclass
class ProbeContext:
    """Everything a probe may need besides its params; shared by all checks of one run."""

    resource: Resource | None
    timeout: float  # seconds; the runner also enforces it from outside
    vars: dict[str, str] = field(default_factory=dict)
    base_dir: str = "."
    shared: dict[str, Any] = field(default_factory=dict)  # per-run caches (ssl contexts, pools)
    config: Any = None  # the loaded config model, for kinds that read a section of it (env)
    logs: Logs | None = None  # the config's logs: section (the logs kind reads its sources and queries)
    # the observation paths the check's expect/warn read (dotted): a kind may skip costly
    # observations nobody asserts on (postgres' diagnostics)
    reads: frozenset[str] = frozenset()

    def ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        """One SSL context per run and verify-mode: creating one costs milliseconds."""
        key = f"ssl:{verify}"
        ctx = self.shared.get(key)
        if ctx is None:
            ctx = ssl.create_default_context()
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.shared[key] = ctx
        return ctx


class CheckKind(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type[CheckParams]]
    resource_kinds: ClassVar[tuple[str, ...]]
    # assertions used when the config gives no expect:
    default_expect: ClassVar[tuple[str, ...]]
    # heavy modules the probe imports lazily; the runner imports them before timing anything
    imports: ClassVar[tuple[str, ...]]
    # observation name -> one-line meaning, for docs and `opsbook kinds`
    observations: ClassVar[dict[str, str]]

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe: ...
