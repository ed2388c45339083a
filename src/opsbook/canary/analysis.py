"""One analysis: measure every metric on its schedule, judge each measurement, decide.

Each metric is measured at ``initial_delay + i * interval`` for ``i < count`` from the analysis'
start: absolute due times, so a slow measurement does not push the next one later and an analysis
of N intervals takes N intervals. Every measurement has a deadline (``analysis.timeout``); a
metric that reaches a final phase early (failed, errored, inconclusive) stops the analysis, as in
Argo Rollouts. The clock, the sleep and the abort flag are injected (tests never sleep for timing).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config.canaries import Canary, MetricBase
from ..errors import MeasurementError
from .judge import Decision, Judged, MetricState, Score, advance, decide, judge_measurement, score
from .providers.base import Role

Measure = Callable[[str, MetricBase, Role], Awaitable[list[float]]]
POLL = 0.1  # seconds: how often a wait looks at the abort flag


@dataclass(frozen=True)
class Taken:
    """One measurement as recorded: the metric, the target, when, its samples, how it was judged."""

    metric: str
    target: Role
    offset: float  # seconds since the analysis started
    samples: tuple[float, ...]
    judged: Judged


@dataclass
class AnalysisResult:
    decision: Decision | Literal["aborted"]
    reason: str
    states: dict[str, MetricState]
    score: Score
    taken: list[Taken] = field(default_factory=list)
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reason": self.reason, "elapsed_s": round(self.elapsed, 3),
                "metrics": {n: s.to_dict() for n, s in self.states.items()},
                "score": {"verdict": self.score.verdict, "score": self.score.score, "message": self.score.message,
                          "comparisons": self.score.comparisons}}


def schedule(canary: Canary, duration: float | None = None) -> list[tuple[float, str]]:
    """(offset in seconds, metric) for every measurement, in order. Within a step of ``duration``
    seconds each metric is measured duration / interval times (at least once)."""
    out: list[tuple[float, str]] = []
    a = canary.analysis
    for name, m in canary.metrics.items():
        interval = m.interval or a.interval
        delay = a.initial_delay if m.initial_delay is None else m.initial_delay
        count = count_of(canary, m, duration)
        out.extend((delay + i * interval, name) for i in range(count))
    return sorted(out)


def count_of(canary: Canary, m: MetricBase, duration: float | None) -> int:
    if duration is not None:
        return max(1, math.floor(duration / (m.interval or canary.analysis.interval) + 1e-9))
    return m.count or canary.analysis.count


async def analyse(canary: Canary, measure: Measure, *, duration: float | None = None,
                  clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                  aborted: Callable[[], bool] = lambda: False,
                  on_taken: Callable[[Taken], None] = lambda t: None) -> AnalysisResult:
    from .stats import Job, compare_all

    start = clock()
    states = {n: MetricState(n) for n in canary.metrics}
    pooled: dict[str, dict[Role, list[float]]] = {n: {"canary": [], "baseline": []} for n in canary.metrics}
    taken: list[Taken] = []
    timeout = canary.analysis.timeout

    async def one(name: str, m: MetricBase, role: Role) -> list[float] | MeasurementError:
        try:
            return await asyncio.wait_for(measure(name, m, role), timeout)
        except TimeoutError:
            return MeasurementError(f"{role}: no answer within {timeout:g}s", retryable=True)
        except MeasurementError as e:
            return e

    async def step(name: str, offset: float) -> None:
        m = canary.metrics[name]
        roles: Sequence[Role] = ("canary", "baseline") if m.compare is not None else ("canary",)
        got = await asyncio.gather(*(one(name, m, r) for r in roles))
        errors = [g for g in got if isinstance(g, MeasurementError)]
        samples = {r: g for r, g in zip(roles, got, strict=True) if not isinstance(g, MeasurementError)}
        if errors:
            judged = judge_measurement(m, None, "; ".join(e.message for e in errors))
        else:
            judged = judge_measurement(m, samples["canary"])
            for r, s in samples.items():
                pooled[name][r].extend(s)
        states[name] = advance(states[name], m, judged, count_of(canary, m, duration))
        for r in roles:
            t = Taken(name, r, offset, tuple(samples.get(r, ())), judged)
            taken.append(t)
            on_taken(t)

    stopped = ""
    for offset, due in itertools.groupby(schedule(canary, duration), key=lambda x: x[0]):
        names = [n for _, n in due if states[n].phase == "running"]
        while (wait := start + offset - clock()) > 0 and not aborted():
            await sleep(min(wait, POLL))
        if aborted():
            stopped = "aborted"
            break
        await asyncio.gather(*(step(n, offset) for n in names))
        if any(s.phase in ("failed", "error", "inconclusive") for s in states.values()):
            break
    judged: list[tuple[str, MetricBase]] = []  # the compared metrics that were measured, and their samples
    jobs: list[Job] = []
    for n, m in canary.metrics.items():
        c = m.compare
        if c is None or states[n].phase == "error":
            continue
        judged.append((n, m))
        jobs.append(Job(pooled[n]["canary"], pooled[n]["baseline"], direction=c.direction, tolerance=c.tolerance,
                        confidence=c.confidence, min_samples=c.min_samples))
    comparisons = {n: (got, m) for (n, m), got in zip(judged, compare_all(jobs), strict=True)}
    scored = score(comparisons, canary.analysis.pass_score, canary.analysis.marginal_score)
    elapsed = clock() - start
    if stopped:
        return AnalysisResult("aborted", "stopped by a signal during the analysis", states, scored, taken, elapsed)
    decision, reason = decide(states.values(), scored)
    return AnalysisResult(decision, reason, states, scored, taken, elapsed)
