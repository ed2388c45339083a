"""Every integrity check type, on PostgreSQL and on SQLite: planted violations found with the
right counts and samples; clean data passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.integrity_seed import PLANTED, SUITE, Target, by_name, run, seeded

DIALECTS = ["postgres", "sqlite"]


@pytest.fixture(scope="module", params=DIALECTS)
def dirty(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with seeded(request.param, tmp_path_factory.mktemp("dirty")) as t:
        yield t


@pytest.fixture(scope="module", params=DIALECTS)
def clean(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with seeded(request.param, tmp_path_factory.mktemp("clean"), clean=True) as t:
        yield t


@pytest.fixture(scope="module")
def dirty_result(dirty: Target, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return by_name(run(dirty, SUITE, tmp_path_factory.mktemp("cfg")))


def test_every_check_counts_exactly_the_planted_violations(dirty_result: dict[str, Any]) -> None:
    assert {n: c.violations for n, c in dirty_result.items()} == PLANTED
    statuses = {n: c.status for n, c in dirty_result.items()}
    assert statuses == {n: "fail" if v else "pass" for n, v in PLANTED.items()}


def test_clean_data_passes_every_check_with_no_samples(clean: Target, tmp_path: Path) -> None:
    result = run(clean, SUITE, tmp_path)
    assert result.ok and result.counts == {"pass": len(PLANTED), "warn": 0, "fail": 0, "error": 0}
    assert all(c.violations == 0 and c.samples == [] for c in result.checks)


def test_duplicate_stripe_events_are_sampled_together_by_key(dirty_result: dict[str, Any]) -> None:
    single = dirty_result["unique:stripe_events.event_id"]
    assert [s["id"] for s in single.samples] == [1, 2, 4]  # all rows sharing evt_1, none of the NULLs
    compound = dirty_result["unique:stripe_events.event_id,type"]
    assert [(s["id"], s["type"]) for s in compound.samples] == [(1, "invoice.paid"), (2, "invoice.paid")]


def test_orphans_are_found_by_anti_join_and_a_null_reference_is_allowed(dirty_result: dict[str, Any]) -> None:
    c = dirty_result["references:habit_completions.habit_id"]
    assert [s["habit_id"] for s in c.samples] == [99]
    assert "NOT EXISTS" in c.sql and "IS NOT NULL" in c.sql


def test_samples_show_the_failing_rows_of_each_check(dirty_result: dict[str, Any]) -> None:
    assert [s["id"] for s in dirty_result["not_null:users.email"].samples] == [2]
    assert [s["status"] for s in dirty_result["accepted_values:subscriptions.status"].samples] == ["trialing"]
    assert [s["streak"] for s in dirty_result["range:habits.streak"].samples] == [-2]
    assert [s["email"] for s in dirty_result["pattern:users.email"].samples] == ["not-an-email"]
    assert dirty_result["negative-streak-rows"].samples == [{"id": 2, "streak": -2}]
    assert dirty_result["no-negative-streaks"].message == "expected value == 0, got 1"


def test_secret_looking_columns_are_redacted_in_samples(dirty_result: dict[str, Any]) -> None:
    sample = dirty_result["not_null:users.email"].samples[0]
    assert sample["password_hash"] == "***" and sample["api_token"] == "***"
    assert sample["id"] == 2 and sample["email"] is None  # only secret-looking names are hidden


def test_printed_sql_lists_the_violating_rows_with_values_inline(dirty: Target, tmp_path: Path) -> None:
    import sqlite3

    result = by_name(run(dirty, SUITE, tmp_path))
    stmt = result["accepted_values:subscriptions.status"].sql
    assert "'active', 'canceled', 'past_due'" in stmt
    # what an operator pastes into psql / sqlite3 returns the sampled rows
    if dirty.dsn:
        import psycopg

        with psycopg.connect(dirty.dsn) as conn:
            rows = conn.execute(stmt).fetchall()
    else:
        with sqlite3.connect(str(dirty.sqlite_path)) as conn:
            rows = conn.execute(stmt).fetchall()
    assert rows == [(2, "trialing")]


def test_row_count_outside_its_bounds_is_one_violation(dirty: Target, tmp_path: Path) -> None:
    result = by_name(run(dirty, """
        integrity:
          core:
            checks:
              - row_count: {table: users, min: 5}
              - row_count: {table: habits, max: 2, name: few-habits}
        """, tmp_path))
    assert (result["row_count:users"].violations, result["row_count:users"].message) == (
        1, "users has 3 rows, expected at least 5")
    assert result["few-habits"].violations == 1 and "at most 2" in result["few-habits"].message


def test_stale_data_fails_freshness_against_the_injected_clock(dirty: Target, tmp_path: Path) -> None:
    result = by_name(run(dirty, """
        integrity:
          core:
            checks:
              - freshness: {table: habit_completions, column: done_at, max_age: 12h}
              - freshness: {table: subscriptions, column: status, max_age: 1h, name: not-a-time}
        """, tmp_path))
    stale = result["freshness:habit_completions.done_at"]
    assert stale.status == "fail" and stale.violations == 1
    assert "23h old" in stale.message and "max 12h" in stale.message
    assert result["not-a-time"].status == "fail"


def test_schema_reports_missing_tables_columns_and_type_differences(dirty: Target, tmp_path: Path) -> None:
    result = run(dirty, """
        integrity:
          core:
            checks:
              - schema:
                  tables:
                    users: {id: int4, email: text, nickname: text, password_hash: bigint}
                    ghosts: [id]
                    habits: {streak: any}
        """, tmp_path)
    c = result.checks[0]
    problems = {(p["table"], p["column"], p["problem"]) for p in c.samples}
    assert problems == {("users", "nickname", "missing column"), ("users", "password_hash", "type differs"),
                        ("ghosts", None, "missing table")}
    assert c.violations == 3


def test_sequence_behind_its_column_is_found_on_postgres_and_not_applicable_on_sqlite(
    tmp_path: Path,
) -> None:
    text = "integrity:\n  core:\n    checks:\n      - sequence_ahead: {}\n"
    with seeded("postgres", tmp_path) as pg:
        pg.execute("CREATE TABLE invoices (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n int)",
                   "INSERT INTO invoices (id, n) VALUES (1, 1), (2, 2), (3, 3)",
                   "CREATE TABLE notes (id serial PRIMARY KEY, body text)",
                   "INSERT INTO notes (body) VALUES ('a'), ('b')")
        c = run(pg, text, tmp_path).checks[0]
        assert c.violations == 1 and c.status == "fail"
        assert c.samples == [{"sequence": "public.invoices_id_seq", "table": "public.invoices", "column": "id",
                              "next_value": 1, "max_value": 3}]
        assert "setval(" in c.hint
        pg.execute("SELECT setval('invoices_id_seq', 3)")
        c = run(pg, text, tmp_path).checks[0]
        assert c.status == "pass" and c.message == "2 sequences ahead of their columns"
    with seeded("sqlite", tmp_path) as lite:
        c = run(lite, text, tmp_path).checks[0]
        assert c.status == "pass" and "SQLite" in c.message
