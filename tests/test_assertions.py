"""The assertion language: parsed once, evaluated safely, failures explain themselves."""

from __future__ import annotations

from typing import Any

import pytest

from opsbook.config.assertions import Assertion
from opsbook.errors import AssertionSyntaxError

OBS: dict[str, Any] = {
    "status": 503,
    "json": {"status": "degraded", "checks": {"database": True}, "items": [{"id": 1}]},
    "duration": 620.5,
    "header": {"content-type": "application/json; charset=utf-8"},
    "body": '{"status":"degraded"}',
    "days_left": 9.5,
    "value": 0,
}


@pytest.mark.parametrize(("expr", "ok"), [
    ("status == 200", False),
    ("status in [400, 503]", True),
    ("status not in [500, 502]", True),
    ("json.status == 'ready'", False),
    ("json.checks.database == true", True),
    ("duration < 500ms", False),
    ("duration < 1s", True),
    ("days_left > 14", False),
    ("value > 0", False),
    ("body contains 'degraded'", True),
    ("header.content-type matches 'json'", True),
    ("header.Content-Type matches '^application/'", True),
    ("len(json.items) >= 1", True),
    ("json.items[0].id == 1", True),
    ("status >= 500 and status < 600", True),
    ("not (status == 200) or duration < 1ms", True),
    ("json.status != null", True),
    ("'200' == 200", True),
])
def test_examples_from_the_docs_evaluate(expr: str, ok: bool) -> None:
    assert Assertion.parse(expr).evaluate(OBS).ok is ok


def test_failure_reports_actual_and_expectation() -> None:
    o = Assertion.parse("json.status == 'ready'").evaluate(OBS)
    assert (o.actual, o.expected) == ("degraded", "== 'ready'")
    assert o.message == "expected json.status == 'ready', got 'degraded'"


def test_unit_literal_is_kept_in_the_expectation() -> None:
    o = Assertion.parse("duration < 500ms").evaluate(OBS)
    assert o.expected == "< 500ms" and o.actual == 620.5


def test_missing_observation_fails_and_says_so() -> None:
    o = Assertion.parse("json.checks.redis == true").evaluate(OBS)
    assert not o.ok and o.message == "json.checks.redis is missing from the observations"


def test_type_mismatch_fails_without_exception() -> None:
    o = Assertion.parse("json.checks < 3").evaluate(OBS)
    assert not o.ok and "cannot order" in o.message


@pytest.mark.parametrize("bad", [
    "status ==", "status === 200", "len(json.items", "x matches '('", "", "status in [1, 2",
    "__import__('os')", "and status",
])
def test_malformed_expressions_are_rejected_at_parse_time(bad: str) -> None:
    with pytest.raises(AssertionSyntaxError):
        Assertion.parse(bad)


def test_no_python_evaluation_happens() -> None:
    # a path that looks like Python is just a missing observation
    o = Assertion.parse("__class__.__name__ == 'dict'").evaluate(OBS)
    assert not o.ok
