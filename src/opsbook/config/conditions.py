"""The condition language of ``alerts.<name>.when``: small on purpose, parsed once at load.

    check NAME failing | passing
    check NAME <metric> <op> <value> [in <window>]     e.g. check db failures > 3 in 5m
    job KIND NAME failing | passing
    job KIND NAME <metric> <op> <value> [in <window>]  e.g. job backup daily last_success_age > 26h
    heartbeat NAME late | down | failed
    incident postmortem overdue                        one instance per incident whose required
                                                       post-mortem is past due and not written
    runbook [NAME] due | overdue                       one instance per scheduled runbook (or the one
                                                       named) whose occurrence is due / past its grace
    secret NAME overdue | secret overdue               one instance per (secret, environment) whose
                                                       rotation is past due (secrets: rotate_every)

The comparison reuses the assertion language's literals, so durations are written 15m, 26h,
500ms and compare as milliseconds (the unit check observations use).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..durations import parse_duration
from ..errors import AssertionSyntaxError, ConditionError
from .assertions import Assertion

Source = Literal["check", "job", "heartbeat", "incident", "runbook", "secret"]

# metrics a check/job condition can name besides the latest result's observations
CHECK_METRICS = ("status", "duration", "age", "consecutive_failures", "failures", "results", "failure_ratio")
JOB_METRICS = ("last_success_age", "last_run_age", "consecutive_failures", "failures", "runs", "failure_ratio")
WINDOWED = ("failures", "results", "runs", "failure_ratio")
HEARTBEAT_STATES = ("late", "down", "failed")
RUNBOOK_STATES = ("due", "overdue")
_OPS = ("==", "!=", "<", "<=", ">", ">=")
_WINDOW = re.compile(r"\s+in\s+(\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    """A parsed ``when:``. ``mode`` is "failing"/"passing"/a heartbeat state, or "compare"."""

    text: str
    source: Source
    target: str  # check name, heartbeat name, runbook name ("" for any), or "KIND NAME" for a job
    mode: str
    metric: tuple[str | int, ...] = ()  # the compared value's path (metric or observation)
    op: str = ""
    threshold: Any = None
    threshold_text: str = ""
    window: float | None = None  # seconds, for failures/results/... "in 5m"

    @property
    def job(self) -> tuple[str, str]:
        kind, name = self.target.split(" ", 1)
        return kind, name

    @property
    def needs_observations(self) -> bool:
        return self.mode == "compare" and self.source == "check" and self.metric[0] not in CHECK_METRICS

    @property
    def consecutive(self) -> bool:
        return self.mode == "compare" and self.metric[0] == "consecutive_failures"

    def holds(self, value: Any) -> bool:
        """The comparison against an observed value (None never holds)."""
        return compare(self.op, value, self.threshold)


def compare(op: str, a: Any, b: Any) -> bool:
    if a is None:
        return False
    if isinstance(a, str) and isinstance(b, int | float) and not isinstance(b, bool):
        try:
            a = float(a)
        except ValueError:
            return op == "!="
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    try:
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)
    except TypeError:
        return False


@functools.lru_cache(maxsize=65536)  # rules are evaluated every cycle; parse each text once
def parse_condition(text: str) -> Condition:
    words = text.split()
    if not words or words[0] not in ("check", "job", "heartbeat", "incident", "runbook", "secret"):
        raise ConditionError("a condition starts with check, job, heartbeat, runbook or secret, e.g. \"check "
                             "api-ready failing\" (or is \"incident postmortem overdue\")")
    source: Source = words[0]  # type: ignore[assignment]
    if source == "incident":
        if words[1:] != ["postmortem", "overdue"]:
            raise ConditionError(f"expected: {_shape(source)}")
        return Condition(text, source, "postmortem", "overdue")
    if source == "runbook":
        if len(words) not in (2, 3) or words[-1] not in RUNBOOK_STATES:
            raise ConditionError(f"expected: {_shape(source)}")
        return Condition(text, source, words[1] if len(words) == 3 else "", words[-1])
    if source == "secret":
        if words[-1:] != ["overdue"] or len(words) not in (2, 3):
            raise ConditionError(f"expected: {_shape(source)}")
        return Condition(text, source, words[1] if len(words) == 3 else "*", "overdue")
    n_target = 2 if source == "job" else 1
    if len(words) < 2 + n_target:
        raise ConditionError(f"expected: {_shape(source)}")
    target = " ".join(words[1:1 + n_target])
    rest_words = words[1 + n_target:]
    rest = " ".join(rest_words)
    if source == "heartbeat":
        if rest not in HEARTBEAT_STATES:
            raise ConditionError(f"a heartbeat condition is one of: {', '.join(HEARTBEAT_STATES)}")
        return Condition(text, source, target, rest)
    if rest in ("failing", "passing"):
        return Condition(text, source, target, rest)
    window: float | None = None
    m = _WINDOW.search(rest)
    if m:
        try:
            window = parse_duration(m.group(1))
        except ValueError as e:
            raise ConditionError(str(e)) from None
        if window <= 0:
            raise ConditionError("the window after 'in' must be longer than 0s")
        rest = rest[:m.start()]
    try:
        tree = Assertion.parse(rest).tree
    except AssertionSyntaxError as e:
        raise ConditionError(f"{e}; expected: {_shape(source)}") from None
    if tree[0] != "cmp" or tree[1] not in _OPS or tree[2][0] != "path" or tree[3][0] != "lit":
        raise ConditionError(f"compare one value with one literal, e.g. {_shape(source)}")
    metric = tuple(tree[2][1])
    name = metric[0]
    if source == "job" and name not in JOB_METRICS:
        raise ConditionError(f"a job condition reads one of: failing, passing, {', '.join(JOB_METRICS)}")
    if name in WINDOWED and window is None:
        raise ConditionError(f"{name} counts over a window: add 'in 5m' (or another duration)")
    if name not in WINDOWED and window is not None:
        raise ConditionError(f"'in {m.group(1) if m else ''}' only applies to {', '.join(WINDOWED)}")
    lit = tree[3]
    return Condition(text, source, target, "compare", metric, tree[1], lit[1],
                     str(lit[2]) if len(lit) > 2 else repr(lit[1]), window)


def _shape(source: str) -> str:
    return {
        "check": "check NAME failing | check NAME failures > 3 in 5m | check NAME days_left < 14",
        "job": "job KIND NAME failing | job KIND NAME last_success_age > 26h",
        "heartbeat": "heartbeat NAME down",
        "incident": "incident postmortem overdue",
        "runbook": "runbook NAME overdue | runbook overdue | runbook NAME due",
        "secret": "secret NAME overdue | secret overdue",
    }[source]
