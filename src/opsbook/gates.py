"""CI/CD gates over checks: ``opsbook gate ready`` waits until the named checks all pass.

The seed runbooks' ``for i in $(seq 1 30); do curl -sf .../readyz && break; sleep 5; done``
becomes ``opsbook gate ready api-ready --timeout 150s --interval 5s``: exit 0 once every check
passes, exit 1 when the deadline comes first, listing what was still failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .checks.base import CheckKind
from .config.load import Config
from .errors import EXIT_FAILED, EXIT_OK
from .results import CheckResult
from .runner import run_checks

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
