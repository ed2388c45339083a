"""CI/CD gates: ``opsbook gate ready`` waits until the named checks all pass; ``opsbook gate budget``
refuses when an SLO's error budget is spent. Each is run and recorded here (kind ``gate``).

The seed runbooks' ``for i in $(seq 1 30); do curl -sf .../readyz && break; sleep 5; done``
becomes ``opsbook gate ready api-ready --timeout 150s --interval 5s``: exit 0 once every check
passes, exit 1 when the deadline comes first, listing what was still failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..checks.base import CheckKind
from ..config.load import Config
from ..errors import EXIT_FAILED, EXIT_OK
from ..results import CheckResult, utcnow
from ..runner import run_checks
from .record import Recorder

if TYPE_CHECKING:
    from ..rules.budget import Verdict
    from ..store import Store

GATE_SCHEMA = "opsbook.gate/1"


@dataclass
class GateResult:
    gate: str
    ok: bool
    attempts: int
    waited_ms: float
    timeout_s: float
    interval_s: float
    results: list[CheckResult] = field(default_factory=list)  # the last attempt's

    @property
    def failing(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED

    @property
    def summary(self) -> str:
        waited = f"{self.waited_ms / 1000:.1f}s"
        if self.ok:
            return f"ready after {self.attempts} attempt(s), {waited}"
        names = ", ".join(f"{r.name} ({r.summary})" for r in self.failing)
        return f"not ready after {self.attempts} attempt(s), {waited}: still failing: {names}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": GATE_SCHEMA,
            "gate": self.gate,
            "ok": self.ok,
            "summary": self.summary,
            "attempts": self.attempts,
            "waited_ms": round(self.waited_ms, 3),
            "timeout_s": self.timeout_s,
            "interval_s": self.interval_s,
            "failing": [r.name for r in self.failing],
            "results": [r.to_dict() for r in self.results],
        }


async def wait_ready(
    config: Config,
    kinds: dict[str, CheckKind],
    names: Iterable[str],
    timeout: float,
    interval: float,
    on_attempt: Callable[[int, list[CheckResult]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> GateResult:
    """Run the checks every ``interval`` seconds until all pass or ``timeout`` seconds passed.

    An attempt in progress is not cut off at the deadline (its checks have their own
    timeouts), but the gate never sleeps past the deadline: the last attempt starts at it.
    Unknown check names raise ``UsageError`` before anything runs.
    """
    names = list(names)
    start = clock()
    deadline = start + timeout
    attempts = 0
    while True:
        attempts += 1
        results = await run_checks(config, kinds, names)
        if on_attempt is not None:
            on_attempt(attempts, results)
        ok = all(r.ok for r in results)
        remaining = deadline - clock()
        if ok or remaining <= 0:
            return GateResult("ready", ok, attempts, (clock() - start) * 1000, timeout,
                              interval, results)
        await sleep(min(interval, remaining))


def ready(cfg: Config, names: Iterable[str], timeout: float, interval: float, rec: Recorder,
          on_attempt: Callable[[int, list[CheckResult]], None] | None = None) -> GateResult:
    """``gate ready``: unknown names are a usage error before any waiting; the gate is recorded."""
    from ..checks.registry import KINDS
    from ..runner import plan

    names = list(names)
    plan(cfg, names)
    result = asyncio.run(wait_ready(cfg, KINDS, names, timeout=timeout, interval=interval, on_attempt=on_attempt))
    rec.record("gate", "ready", ok=result.ok, detail=result.to_dict())
    return result


@dataclass(frozen=True)
class Override:
    """``gate budget --override``: the gate passes until ``ttl`` seconds from now."""

    reason: str
    by: str
    ttl: float


def budget(cfg: Config, store: Store, rec: Recorder, slo: str, limit: float | None = None,
           override: Override | None = None, now: datetime | None = None) -> Verdict:
    """``gate budget``: is the SLO's error budget consumed past ``limit`` (the SLO's freeze_at, else
    100%) with no unexpired override? Records ``override`` first when given; the verdict is recorded."""
    from ..rules import budget as policy

    now = now or utcnow()
    if override is not None:
        policy.add_override(cfg, store, slo, override.reason, override.by, now, now + timedelta(seconds=override.ttl))
    verdict = policy.check(cfg, store, slo, now, limit)
    rec.record("gate", "budget", ok=verdict.ok, detail=verdict.to_dict(), status="pass" if verdict.ok else "fail")
    return verdict
