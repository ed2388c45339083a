"""Judging a canary, as pure functions over measurements (no clock, no I/O; canary/analysis.py
drives them with an injected clock).

Per metric, Argo Rollouts' semantics: each measurement's ``result`` is judged by
``failure_condition`` (met: failed) and ``success_condition`` (met: successful); neither met
when both are given, a NaN or no data at all is *inconclusive*. A metric fails once more than
``failure_limit`` measurements failed, errors once more than ``consecutive_error_limit``
measurements in a row could not be taken (or when none of its ``count`` could), is
inconclusive once more than ``inconclusive_limit`` were, and succeeds after ``count``
measurements otherwise.

Per comparison metric (``compare:``), Kayenta's: canary vs baseline samples (canary/stats.py)
pass, fail or have no data; the passing weights make a score out of 100; a ``critical`` metric
failing fails the run whatever the score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..config.assertions import Assertion
from ..config.canaries import MetricBase
from .stats import Comparison

Outcome = Literal["successful", "failed", "inconclusive", "error"]
Phase = Literal["running", "successful", "failed", "inconclusive", "error"]
Decision = Literal["promote", "rollback", "inconclusive", "could_not_measure"]


@dataclass(frozen=True)
class Judged:
    """One measurement of one metric, judged."""

    outcome: Outcome
    result: float | None
    message: str


@dataclass(frozen=True)
class MetricState:
    name: str
    taken: int = 0  # measurements, errors included
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    phase: Phase = "running"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "phase": self.phase, "message": self.message, "taken": self.taken,
                "successful": self.successful, "failed": self.failed, "inconclusive": self.inconclusive,
                "errors": self.errors}


def _mean(samples: Sequence[float]) -> float:
    return math.fsum(samples) / len(samples)


def judge_measurement(metric: MetricBase, samples: Sequence[float] | None, error: str | None = None) -> Judged:
    """A measurement's outcome. ``result`` is the mean of its samples (a pass ratio for 0/1 samples)."""
    if error is not None:
        return Judged("error", None, error)
    if not samples:
        return Judged("inconclusive", None, "no data")
    result = _mean(samples)
    if math.isnan(result):
        return Judged("inconclusive", result, "the result is NaN")
    if metric.success_condition is None and metric.failure_condition is None:
        return Judged("successful", result, "measured (judged by comparison)")
    obs = {"result": result, "samples": len(samples)}
    if metric.failure_condition is not None:
        got = Assertion.parse(metric.failure_condition).evaluate(obs)
        if got.ok:
            return Judged("failed", result, f"failure_condition met: {metric.failure_condition} (result {result:g})")
    if metric.success_condition is None:
        return Judged("successful", result, f"failure_condition not met (result {result:g})")
    got = Assertion.parse(metric.success_condition).evaluate(obs)
    if got.ok:
        return Judged("successful", result, f"success_condition met (result {result:g})")
    if metric.failure_condition is None:
        return Judged("failed", result, f"success_condition not met: {got.message or metric.success_condition}")
    return Judged("inconclusive", result, f"neither condition met (result {result:g})")


def advance(state: MetricState, metric: MetricBase, judged: Judged, count: int) -> MetricState:
    """The metric's state after one more judged measurement (``count``: how many it takes)."""
    if state.phase != "running":
        return state
    s = replace(state, taken=state.taken + 1)
    if judged.outcome == "error":
        s = replace(s, errors=s.errors + 1, consecutive_errors=s.consecutive_errors + 1)
        if s.consecutive_errors > metric.consecutive_error_limit:
            return replace(s, phase="error", message=f"{s.consecutive_errors} consecutive errors (limit "
                                                     f"{metric.consecutive_error_limit}): {judged.message}")
    else:
        s = replace(s, consecutive_errors=0)
        if judged.outcome == "failed":
            s = replace(s, failed=s.failed + 1)
            if s.failed > metric.failure_limit:
                return replace(s, phase="failed", message=f"{s.failed} failed (limit {metric.failure_limit}): "
                                                          f"{judged.message}")
        elif judged.outcome == "inconclusive":
            s = replace(s, inconclusive=s.inconclusive + 1)
            if s.inconclusive > metric.inconclusive_limit:
                return replace(s, phase="inconclusive", message=judged.message)
        else:
            s = replace(s, successful=s.successful + 1)
    if s.taken >= count and s.successful == 0 and s.errors:
        # nothing measured at all is not a pass, however few errors came in a row
        return replace(s, phase="error", message=f"no measurement succeeded ({s.errors} errors): {judged.message}")
    if s.taken >= count:
        return replace(s, phase="successful", message=f"{s.successful}/{s.taken} successful, {s.failed} failed, "
                                                      f"{s.errors} errors")
    return s


@dataclass(frozen=True)
class Score:
    verdict: Literal["pass", "marginal", "fail", "nodata", "none"]
    score: float | None
    message: str
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)


def score(comparisons: Mapping[str, tuple[Comparison, MetricBase]], pass_score: float,
          marginal_score: float) -> Score:
    """The comparison metrics weighted into a score; metrics without data are left out of it."""
    if not comparisons:
        return Score("none", None, "no comparison metrics")
    docs = {n: {**c.to_dict(), "weight": m.weight, "critical": m.critical} for n, (c, m) in comparisons.items()}
    judged = {n: (c, m) for n, (c, m) in comparisons.items() if c.verdict != "nodata"}
    critical = sorted(n for n, (c, m) in judged.items() if m.critical and c.verdict == "fail")
    nodata_critical = sorted(n for n, (c, m) in comparisons.items() if m.critical and c.verdict == "nodata")
    if not judged:
        return Score("nodata", None, "no comparison metric had enough samples", docs)
    total = math.fsum(m.weight for c, m in judged.values())
    passed = math.fsum(m.weight for c, m in judged.values() if c.verdict == "pass")
    value = round(100 * passed / total, 2)
    failing = sorted(n for n, (c, m) in judged.items() if c.verdict == "fail")
    tail = f" (failing: {', '.join(failing)})" if failing else ""
    if critical:
        return Score("fail", value, f"critical metric failed: {', '.join(critical)}", docs)
    if nodata_critical:
        return Score("nodata", value, f"critical metric has no data: {', '.join(nodata_critical)}", docs)
    if value >= pass_score:
        return Score("pass", value, f"score {value:g} >= {pass_score:g}{tail}", docs)
    if value >= marginal_score:
        return Score("marginal", value, f"score {value:g} is marginal ({marginal_score:g} to {pass_score:g}){tail}",
                     docs)
    return Score("fail", value, f"score {value:g} < {marginal_score:g}{tail}", docs)


def decide(states: Iterable[MetricState], scored: Score) -> tuple[Decision, str]:
    """Failing evidence rolls back; else a metric that could not be measured stops the rollout; else
    anything inconclusive holds for a human; else promote."""
    states = list(states)
    failed = [s for s in states if s.phase == "failed"]
    if failed or scored.verdict == "fail":
        why = [f"{s.name}: {s.message}" for s in failed] + ([scored.message] if scored.verdict == "fail" else [])
        return "rollback", "; ".join(why)
    errored = [s for s in states if s.phase == "error"]
    if errored:
        return "could_not_measure", "; ".join(f"{s.name}: {s.message}" for s in errored)
    held = [s for s in states if s.phase in ("inconclusive", "running")]
    if held or scored.verdict in ("marginal", "nodata"):
        why = [f"{s.name}: {s.message or 'not finished'}" for s in held]
        if scored.verdict in ("marginal", "nodata"):
            why.append(scored.message)
        return "inconclusive", "; ".join(why)
    return "promote", scored.message if scored.verdict == "pass" else "every metric successful"
