"""The integrity engine: one aggregate query per table, errors pinned to their check, safe SQL,
severities and thresholds, config validation, the Markdown report."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.errors import ConfigErrors, CouldNotRun, UsageError
from opsbook.integrity import run_suite
from opsbook.integrity.engine import plan, status_for
from opsbook.render.integrity import integrity_markdown
from tests.support.helpers import free_port
from tests.support.integrity_seed import SUITE, Target, by_name, config, run, seeded

DIALECTS = ["postgres", "sqlite"]

USERS_ONLY = """
integrity:
  core:
    checks:
      - not_null: {table: users, columns: [email]}
      - row_count: {table: users, min: 1}
      - pattern: {table: users, column: email, regex: '@'}
      - accepted_values: {table: users, column: email, values: [ann@example.com, not-an-email]}
      - range: {table: users, column: id, min: 1, max: 3}
"""


@pytest.fixture(scope="module", params=DIALECTS)
def dirty(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with seeded(request.param, tmp_path_factory.mktemp("dirty")) as t:
        yield t


def test_the_aggregate_checks_of_one_table_run_as_one_query(dirty: Target, tmp_path: Path) -> None:
    result = run(dirty, USERS_ONLY, tmp_path, samples=0)
    assert len(result.checks) == 5 and all(c.status != "error" for c in result.checks)
    assert result.queries == 1  # five checks, one statement, one scan


def test_count_distinct_shares_the_statement_unless_postgres_can_scan_in_parallel(
    dirty: Target, tmp_path: Path,
) -> None:
    with_unique = USERS_ONLY + "      - unique: {table: users, columns: [email]}\n"
    result = run(dirty, with_unique, tmp_path, samples=0)
    assert by_name(result)["unique:users.email"].status == "pass"
    # count(DISTINCT) makes a PostgreSQL aggregate serial, so there it gets its own statement
    assert result.queries == (2 if dirty.dialect == "postgres" else 1)


def test_samples_are_fetched_only_for_checks_that_found_violations(dirty: Target, tmp_path: Path) -> None:
    result = run(dirty, USERS_ONLY, tmp_path)
    failing = [c for c in result.checks if c.violations]
    assert [c.name for c in failing] == ["not_null:users.email", "pattern:users.email"]
    # few violations: one scan samples both checks of the table, each row flagged per check
    assert result.queries == 2
    assert [s["id"] for s in failing[0].samples] == [2] and [s["id"] for s in failing[1].samples] == [3]
    assert all("__opsbook" not in k for c in failing for s in c.samples for k in s)


def test_many_violations_are_sampled_per_check_with_a_limit(
    dirty: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opsbook.integrity import engine

    monkeypatch.setattr(engine, "COMBINE_CAP", 1)
    result = run(dirty, USERS_ONLY, tmp_path, samples=1)
    failing = [c for c in result.checks if c.violations]
    assert result.queries == 1 + len(failing)
    assert [len(c.samples) for c in failing] == [1, 1]


def test_the_planner_groups_by_table_and_leaves_joins_and_compound_keys_alone(tmp_path: Path) -> None:
    from opsbook.integrity.db import SqliteDb

    cfg = config(SUITE, tmp_path)
    db_file = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(db_file).close()
    db = SqliteDb(str(db_file), None)
    try:
        groups, alone = plan(cfg.model.integrity["core"], db)
    finally:
        asyncio.run(db.close())
    assert {t: [p.type_name for p in ps] for (t, _), ps in groups.items()} == {
        "stripe_events": ["unique"],
        "users": ["not_null", "row_count", "pattern"],
        "subscriptions": ["accepted_values"],
        "habits": ["range"],
        "habit_completions": ["freshness"],
    }
    assert [p.name for p in alone] == ["unique:stripe_events.event_id,type", "references:habit_completions.habit_id",
                                       "schema", "no-negative-streaks", "negative-streak-rows"]


def test_a_missing_table_or_column_errors_that_check_and_the_others_still_run(dirty: Target, tmp_path: Path) -> None:
    result = by_name(run(dirty, """
        integrity:
          core:
            checks:
              - not_null: {table: users, columns: [email]}
              - range: {table: users, column: no_such_column, min: 0}
              - row_count: {table: no_such_table, min: 1}
              - references: {table: habit_completions, column: habit_id, to: nowhere.id}
              - sql: {name: broken, query: "SELEC 1"}
              - pattern: {table: users, column: email, regex: '@'}
        """, tmp_path))
    assert {n: c.status for n, c in result.items()} == {
        "not_null:users.email": "fail", "range:users.no_such_column": "error", "row_count:no_such_table": "error",
        "references:habit_completions.habit_id": "error", "broken": "error", "pattern:users.email": "fail",
    }
    assert "no_such_column" in result["range:users.no_such_column"].message
    assert "no_such_table" in result["row_count:no_such_table"].message
    assert result["not_null:users.email"].violations == 1  # its table-mate's error did not take it down


def test_injection_looking_names_are_quoted_and_values_bound(dirty: Target, tmp_path: Path) -> None:
    evil_value = "x'); DROP TABLE users; --"
    result = by_name(run(dirty, f"""
        integrity:
          core:
            checks:
              - row_count: {{table: 'users; DROP TABLE habits; --', min: 1, name: evil-table}}
              - not_null: {{table: 'users" ; DROP TABLE habits; --', columns: [id], name: evil-quote}}
              - not_null: {{table: 'users` ; DROP TABLE habits; --', columns: [id], name: evil-tick}}
              - accepted_values: {{table: subscriptions, column: status, values: ["{evil_value}", active]}}
              - pattern: {{table: users, column: email, regex: "'; DROP TABLE users; --"}}
        """, tmp_path))
    assert result["evil-table"].status == "error" and result["evil-quote"].status == "error"
    assert result["evil-tick"].status == "error"
    values = result["accepted_values:subscriptions.status"]
    assert values.violations == 2  # trialing and canceled: the evil text is just a value
    assert "'x''); DROP TABLE users; --'" in values.sql  # printed safely quoted
    assert result["pattern:users.email"].violations == 2  # nobody's email contains that text
    # and nothing was dropped
    again = by_name(run(dirty, SUITE, tmp_path))
    assert all(c.status != "error" for c in again.values())


@pytest.mark.parametrize(("severity", "error_if", "warn_if", "violations", "expected"), [
    ("fail", None, None, 0, "pass"),
    ("fail", None, None, 1, "fail"),
    ("warn", None, None, 1, "warn"),
    ("warn", "> 0", None, 5, "warn"),  # severity warn never fails
    ("fail", "> 10", None, 5, "warn"),  # under error_if, still over the default warn_if
    ("fail", "> 10", None, 11, "fail"),
    ("fail", "> 10", "> 5", 5, "pass"),
    ("fail", "> 10", "> 5", 6, "warn"),
    ("fail", ">= 3", "!= 0", 3, "fail"),
    ("warn", None, "> 2", 2, "pass"),
])
def test_severity_and_thresholds_decide_the_status(
    severity: str, error_if: str | None, warn_if: str | None, violations: int, expected: str,
) -> None:
    from opsbook.integrity.value_range import RangeCheck

    spec = RangeCheck.model_validate({"table": "t", "column": "c", "min": 0, "severity": severity,
                                      "error_if": error_if, "warn_if": warn_if})
    assert status_for(spec, violations) == expected


def test_a_warning_check_leaves_the_suite_ok(dirty: Target, tmp_path: Path) -> None:
    result = run(dirty, """
        integrity:
          core:
            checks:
              - range: {table: habits, column: streak, min: 0, severity: warn}
              - not_null: {table: users, columns: [email], error_if: "> 1"}
              - row_count: {table: users, min: 1}
        """, tmp_path)
    assert [c.status for c in result.checks] == ["warn", "warn", "pass"]
    assert result.ok and result.exit_code == 0


def test_a_slow_or_writing_query_errors_its_check_only(tmp_path: Path) -> None:
    with seeded("postgres", tmp_path) as pg:
        result = by_name(run(pg, """
            integrity:
              core:
                timeout: 200ms
                checks:
                  - sql: {name: slow, query: "SELECT pg_sleep(2)"}
                  - sql: {name: writes, query: "DELETE FROM users"}
                  - row_count: {table: users, min: 3}
            """, tmp_path))
        assert result["slow"].status == "error" and "statement timeout" in result["slow"].message
        assert result["slow"].sql == "SELECT pg_sleep(2)"
        assert result["writes"].status == "error" and "read-only" in result["writes"].message
        assert result["row_count:users"].status == "pass"  # the DELETE never happened


def test_an_unreachable_database_is_could_not_run(tmp_path: Path) -> None:
    cfg = config("integrity:\n  core:\n    checks:\n      - row_count: {table: t, min: 1}\n", tmp_path)
    with pytest.raises(CouldNotRun) as e:
        asyncio.run(run_suite(cfg, "core", dsn=f"postgresql://postgres:pw-1234@127.0.0.1:{free_port()}/x"))
    assert "pw-1234" not in str(e.value) and e.value.exit_code == 3
    with pytest.raises(CouldNotRun):
        asyncio.run(run_suite(cfg, "core", sqlite_path=str(tmp_path / "missing.db")))
    assert not (tmp_path / "missing.db").exists()  # never created
    with pytest.raises(UsageError, match="names no database"):
        asyncio.run(run_suite(cfg, "core"))
    with pytest.raises(UsageError, match="no integrity suite named 'nope'"):
        asyncio.run(run_suite(cfg, "nope"))


@pytest.mark.parametrize(("check", "message"), [
    ("{bogus: {table: t}}", "an integrity check has one type key"),
    ("{unique: {table: t, columns: [a]}, not_null: {table: t, columns: [a]}}", "exactly one type"),
    ("{unique: {table: t, columns: []}}", "at least 1 item"),
    ("{sql: {query: SELECT 1}}", "an sql check needs name:"),
    ("{not_null: {table: t, columns: [a], error_if: 'lots'}}", "is not a threshold"),
    ("{pattern: {table: t, column: a, regex: '(unclosed'}}", "regex:"),
    ("{references: {table: t, column: a, to: habits}}", "must name table.column"),
    ("{row_count: {table: t}}", "row_count needs min:, max: or both"),
    ("{sql: {name: x, query: SELECT 1, expect: 'value =='}}", "expected a value"),
    ("{freshness: {table: t, column: c, max_age: soon}}", "is not a duration"),
    ("{unique: {table: t, columns: [a], colour: red}}", "unknown key 'colour'"),
])
def test_config_mistakes_are_reported_with_their_yaml_path(check: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        config(f"integrity:\n  core:\n    checks:\n      - {check}\n", tmp_path)
    text = str(e.value)
    assert "integrity.core.checks[0]" in text and message in text, text


def test_suite_references_are_cross_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        config("""
            resources:
              api: {kind: http, url: "http://x"}
            integrity:
              a: {resource: api, checks: [{row_count: {table: t, min: 1}}]}
              b: {resource: nothing, checks: [{row_count: {table: t, min: 1}}]}
              c:
                checks:
                  - row_count: {table: t, min: 1}
                  - row_count: {table: t, max: 9}
            """, tmp_path)
    text = str(e.value)
    assert "integrity.a.resource" in text and "is a http resource" in text
    assert "integrity.b.resource" in text and "no resource named 'nothing'" in text
    assert "integrity.c.checks[1]" in text and "two checks are named 'row_count:t'" in text


def test_markdown_report_has_the_table_samples_and_sql_without_secrets(dirty: Target, tmp_path: Path) -> None:
    md = integrity_markdown(run(dirty, SUITE, tmp_path))
    assert md.startswith("### Integrity: core\n\n**FAILED**: 3 pass, 9 fail")
    assert "| ❌ fail | `unique:stripe_events.event_id` | 2 |" in md
    assert "```sql\nSELECT * FROM " in md
    assert "tok2" not in md and "h2" not in md  # api_token, password_hash
