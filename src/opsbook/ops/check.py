"""``opsbook check``, a scheduled check, the API's "run now": run checks, record results and flips."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..checks.base import CheckKind
from ..checks.registry import KINDS
from ..config.load import Config
from ..errors import UsageError
from ..results import RUN_SCHEMA, STATUSES, CheckResult, overall_exit
from ..runner import run_checks

if TYPE_CHECKING:
    from ..store import Flip, Store


@dataclass
class CheckRun:
    env: str | None
    results: list[CheckResult]
    flips: list[Flip] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return overall_exit(self.results)

    def to_dict(self) -> dict[str, Any]:
        """``opsbook check --json`` (opsbook.check-run/1)."""
        from ..render import jsondoc

        return jsondoc.check_run(self.results, self.env, self.flips)

    def unit_dict(self, name: str) -> dict[str, Any]:
        """One check run as a unit (the scheduler, the API's run-now): the check-run shape plus what ran."""
        mine = next(r for r in self.results if r.name == name)
        return {"schema": RUN_SCHEMA, "env": self.env, "kind": "check", "name": name, "ok": mine.ok,
                "status": mine.status, "exit_code": self.exit_code,
                "counts": {s: sum(r.status == s for r in self.results) for s in STATUSES},
                "results": [r.to_dict() for r in self.results], "flips": [f.to_dict() for f in self.flips]}


async def check(
    config: Config,
    names: Iterable[str] = (),
    *,
    store: Store | None = None,
    concurrency: int | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    kinds: dict[str, CheckKind] | None = None,
) -> CheckRun:
    """Run the checks (all, or ``names`` and what they depend on); record them when given a store."""
    results = await run_checks(config, kinds or KINDS, names, concurrency=concurrency, on_result=on_result)
    flips = store.record_results(results) if store is not None else []
    return CheckRun(config.env, results, flips)


def run(config: Config, names: Iterable[str] = (), *, store: Store | None = None, concurrency: int | None = None,
        on_result: Callable[[CheckResult], None] | None = None) -> CheckRun:
    return asyncio.run(check(config, names, store=store, concurrency=concurrency, on_result=on_result))


def run_one(config: Config, store: Store, name: str) -> dict[str, Any]:
    """One named check and what it depends on, recorded; its unit document."""
    if name not in config.checks:
        raise UsageError(f"no check named {name!r}", hint=f"defined: {', '.join(config.checks) or '(none)'}")
    return run(config, [name], store=store).unit_dict(name)
