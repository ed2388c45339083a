"""The canary judge's Argo Rollouts semantics, driven with an injected clock and scripted
measurements: failure_limit, consecutive_error_limit, inconclusive results, count, absolute due
times, the comparison score with its critical metrics, and the config's cross-checks."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.canary.analysis import AnalysisResult, analyse, schedule
from opsbook.canary.judge import MetricState, Score, advance, decide, judge_measurement, score
from opsbook.canary.stats import Comparison
from opsbook.config.canaries import Canary
from opsbook.errors import ConfigErrors, MeasurementError
from tests.support.helpers import load


class Clock:
    """Seconds that pass only when the analysis sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def canary(**metric: Any) -> Canary:
    m = {"provider": "http_json", "path": "/m", "value": "v", **metric}
    return Canary.model_validate({"canary": "http://c", "baseline": "http://b", "metrics": {"m": m},
                                  "analysis": {"interval": "10s", "count": 5}})


def script(*steps: Any) -> Iterator[Any]:
    yield from steps


def run(can: Canary, results: Iterator[Any], clock: Clock | None = None, **kw: Any) -> AnalysisResult:
    clock = clock or Clock()

    async def measure(name: str, metric: Any, role: str) -> list[float]:
        got = next(results)
        if isinstance(got, Exception):
            raise got
        return list(got)

    return asyncio.run(analyse(can, measure, clock=clock, sleep=clock.sleep, **kw))


def err() -> MeasurementError:
    return MeasurementError("connection refused")


def test_failure_limit_tolerates_that_many_failed_measurements_and_fails_on_the_next() -> None:
    can = canary(success_condition="result < 5", failure_limit=1)
    got = run(can, script([1], [9], [1], [9], [1]))
    assert got.decision == "rollback"
    assert got.states["m"].phase == "failed" and got.states["m"].failed == 2 and got.states["m"].taken == 4


def test_the_default_failure_limit_of_zero_fails_on_the_first_failed_measurement() -> None:
    got = run(canary(success_condition="result < 5"), script([9]))
    assert got.decision == "rollback" and got.states["m"].taken == 1


def test_consecutive_error_limit_counts_errors_in_a_row_and_a_success_resets_it() -> None:
    can = canary(success_condition="result < 5", consecutive_error_limit=2)
    ok = run(can, script(err(), err(), [1], err(), err()))
    assert ok.decision == "promote" and ok.states["m"].errors == 4
    bad = run(can, script(err(), err(), err()))
    assert bad.decision == "could_not_measure"
    assert bad.states["m"].phase == "error" and "3 consecutive errors" in bad.states["m"].message


def test_the_default_consecutive_error_limit_is_four() -> None:
    can = Canary.model_validate({"canary": "http://c", "baseline": "http://b", "analysis": {"count": 9},
                                 "metrics": {"m": {"provider": "http_json", "path": "/", "value": "v",
                                                   "success_condition": "result < 5"}}})
    got = run(can, script(*[err()] * 5))
    assert got.states["m"].phase == "error" and got.states["m"].taken == 5


def test_neither_condition_met_holds_as_inconclusive_instead_of_guessing() -> None:
    got = run(canary(success_condition="result < 5", failure_condition="result > 10"), script([7]))
    assert got.decision == "inconclusive" and "neither condition met" in got.reason


def test_no_data_and_nan_are_inconclusive_not_a_pass() -> None:
    assert run(canary(success_condition="result < 5"), script([])).decision == "inconclusive"
    assert run(canary(success_condition="result < 5"), script([math.nan])).decision == "inconclusive"


def test_only_a_failure_condition_not_met_is_a_success() -> None:
    got = run(canary(failure_condition="result > 10"), script([1], [2], [3], [4], [5]))
    assert got.decision == "promote" and got.states["m"].successful == 5


def test_measurements_fall_on_absolute_due_times_after_the_initial_delay() -> None:
    clock = Clock()
    can = canary(success_condition="result < 5", initial_delay="30s", count=3)
    assert [o for o, _ in schedule(can)] == [30, 40, 50]
    got = run(can, script([1], [1], [1]), clock)
    assert got.decision == "promote"
    assert got.elapsed == pytest.approx(50)  # the analysis ends with its last measurement


def test_a_step_duration_sets_how_many_measurements_are_taken() -> None:
    can = canary(success_condition="result < 5")
    assert len(schedule(can, duration=60)) == 6
    assert len(schedule(can, duration=5)) == 1


def test_an_abort_stops_the_analysis_as_aborted_without_a_decision() -> None:
    clock = Clock()
    flag = {"n": 0}

    def aborted() -> bool:
        flag["n"] += 1
        return clock.t > 1015

    got = run(canary(success_condition="result < 5"), script([1], [1], [1]), clock, aborted=aborted)
    assert got.decision == "aborted" and got.states["m"].taken == 2


def _cmp(verdict: str) -> Comparison:
    return Comparison(verdict, verdict, 100, 100)  # type: ignore[arg-type]


def test_the_score_weighs_passing_metrics_and_a_critical_failure_fails_whatever_the_score() -> None:
    light = canary(compare={}, weight=1)
    heavy = canary(compare={}, weight=9)
    m_light, m_heavy = light.metrics["m"], heavy.metrics["m"]
    s = score({"a": (_cmp("fail"), m_light), "b": (_cmp("pass"), m_heavy)}, 95, 75)
    assert s.verdict == "marginal" and s.score == 90
    crit = canary(compare={}, weight=1, critical=True).metrics["m"]
    s = score({"a": (_cmp("fail"), crit), "b": (_cmp("pass"), m_heavy)}, 80, 50)
    assert s.verdict == "fail" and "critical" in s.message
    assert score({"a": (_cmp("nodata"), m_light)}, 95, 75).verdict == "nodata"


def test_failing_evidence_wins_over_errors_and_errors_over_inconclusive() -> None:
    none = Score("none", None, "")
    failed, errored, held = (MetricState("a", phase="failed"), MetricState("b", phase="error"),
                             MetricState("c", phase="inconclusive"))
    assert decide([failed, errored, held], none)[0] == "rollback"
    assert decide([errored, held], none)[0] == "could_not_measure"
    assert decide([held], none)[0] == "inconclusive"
    assert decide([MetricState("d", phase="successful")], none)[0] == "promote"


def test_advance_ignores_measurements_after_the_metric_finished() -> None:
    m = canary(success_condition="result < 5").metrics["m"]
    done = MetricState("m", phase="failed")
    assert advance(done, m, judge_measurement(m, [1.0]), 5) is done


def test_a_metric_without_a_condition_or_compare_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load("""
        canaries:
          api:
            canary: http://127.0.0.1:1
            baseline: http://127.0.0.1:2
            metrics:
              m: {provider: http_json, path: /, value: v}
        """, tmp_path)
    assert "success_condition, failure_condition or compare" in str(e.value.to_dict())


def test_an_unknown_check_or_target_label_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load("""
        checks:
          api-health: {http: {url: "http://127.0.0.1:1/health"}}
        canaries:
          api:
            canary: nxt
            baseline: http://127.0.0.1:2
            targets: {next: "http://127.0.0.1:3"}
            metrics:
              m: {provider: check, check: api-helth, compare: {}}
        """, tmp_path)
    text = str(e.value.to_dict())
    assert "no check named 'api-helth' (did you mean 'api-health'?)" in text
    assert "no target named 'nxt' (did you mean 'next'?)" in text


def test_a_metric_whose_every_measurement_errored_is_an_error_even_under_the_limit() -> None:
    got = run(canary(success_condition="result < 5", count=2), script(err(), err()))
    assert got.decision == "could_not_measure" and "no measurement succeeded" in got.reason
