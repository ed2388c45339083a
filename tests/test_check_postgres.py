import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pgutil
from tests.support.helpers import free_port, load, run
from tests.support.pgutil import execute


@pytest.fixture
def dsn() -> Iterator[str]:
    with pgutil.scratch_database() as d:
        yield d


def test_connects_and_reports_server_facts(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        resources:
          db: {{kind: postgres, dsn: "{dsn}"}}
        checks:
          db: {{postgres: {{resource: db}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "pass", r.summary
    o = r.observations
    assert o["connected"] is True
    assert o["in_recovery"] is False
    assert o["server_version_num"] >= 100000
    assert o["server_version"].split(".")[0] == str(o["server_version_num"] // 10000)
    assert 1 <= o["connections"]["used"] <= o["connections"]["max"]
    assert 0 < o["connections"]["ratio"] <= 1
    assert isinstance(o["duration"], float)


def test_query_gives_value_rows_and_json_friendly_types(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        checks:
          q:
            postgres:
              dsn: "{dsn}"
              query: >-
                SELECT 1.50::numeric AS n, now() AS t, '\\x00ff'::bytea AS b,
                interval '2 s' AS d, 3::numeric AS i
            expect: ["value == 1.5", "rows[0].i == 3", "rows[0].d == 2s", "row_count == 1"]
    """,
        tmp_path,
    )
    r = run(cfg)["q"]
    assert r.status == "pass", (r.summary, r.assertions)
    row = r.observations["rows"][0]
    assert row["b"] == "00ff"
    assert isinstance(row["t"], str)
    json.dumps(r.to_dict())


def test_rows_are_bounded_but_row_count_is_not(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        checks:
          q: {{postgres: {{dsn: "{dsn}", query: "SELECT g FROM generate_series(1, 250) g"}},
              expect: ["row_count == 250"]}}
    """,
        tmp_path,
    )
    r = run(cfg)["q"]
    assert r.status == "pass", r.summary
    assert len(r.observations["rows"]) == 100


def test_checks_run_read_only(tmp_path: Path, dsn: str) -> None:
    execute(dsn, "CREATE TABLE t (x int)")
    cfg = load(
        f"""
        checks:
          w: {{postgres: {{dsn: "{dsn}", query: "INSERT INTO t VALUES (1)"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["w"]
    assert r.status == "error"
    assert "opsbook runs read-only queries here" in r.summary
    assert r.error and r.error["retryable"] is False


def test_a_query_that_errors_is_an_error_naming_the_problem(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        checks:
          q: {{postgres: {{dsn: "{dsn}", query: "SELECT * FROM no_such_table"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["q"]
    assert r.status == "error"
    assert 'relation "no_such_table" does not exist' in r.summary
    assert r.error and r.error["retryable"] is False


def test_a_slow_query_is_cancelled_by_the_check_timeout(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        checks:
          slow: {{postgres: {{dsn: "{dsn}", query: "SELECT pg_sleep(5)"}}, timeout: 1s}}
    """,
        tmp_path,
    )
    r = run(cfg)["slow"]
    assert r.status == "error"
    assert "cancel" in r.summary or "timed out" in r.summary
    assert r.duration_ms < 3000


def test_readiness_passes_when_migrations_table_has_rows(tmp_path: Path, dsn: str) -> None:
    execute(
        dsn,
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('ae1027a6acf')",
    )
    cfg = load(
        f"""
        checks:
          ready: {{postgres: {{dsn: "{dsn}", query: "SELECT 1", migrations: true}},
                  expect: ["value == 1", "migrations.count > 0"]}}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "pass", r.summary
    assert r.observations["migrations"] == {
        "table": "alembic_version",
        "exists": True,
        "count": 1,
        "latest": "ae1027a6acf",
    }


def test_readiness_fails_when_migrations_table_is_empty(tmp_path: Path, dsn: str) -> None:
    execute(dsn, "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text)")
    cfg = load(
        f"""
        checks:
          ready: {{postgres: {{dsn: "{dsn}", migrations: true}}, expect: ["migrations.count > 0"]}}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert r.observations["migrations"]["table"] == "_sqlx_migrations"
    assert r.assertions[0].actual == 0


def test_readiness_fails_when_there_is_no_migrations_table(tmp_path: Path, dsn: str) -> None:
    cfg = load(
        f"""
        checks:
          ready: {{postgres: {{dsn: "{dsn}", migrations: true}}, expect: ["migrations.count > 0"]}}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert r.observations["migrations"] == {
        "table": None,
        "exists": False,
        "count": 0,
        "latest": None,
    }


def test_named_migrations_table_in_a_schema_reports_the_newest(tmp_path: Path, dsn: str) -> None:
    execute(
        dsn,
        "CREATE SCHEMA drizzle",
        "CREATE TABLE drizzle.__drizzle_migrations (id serial, hash text, created_at bigint)",
        "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('old', 1), ('new', 2)",
    )
    cfg = load(
        f"""
        checks:
          auto: {{postgres: {{dsn: "{dsn}", migrations: true}},
                 expect: ["migrations.latest == 'new'"]}}
          named: {{postgres: {{dsn: "{dsn}", migrations: drizzle.__drizzle_migrations}},
                  expect: ["migrations.count == 2"]}}
    """,
        tmp_path,
    )
    res = run(cfg)
    assert res["auto"].status == "pass", res["auto"].observations
    assert res["named"].status == "pass", res["named"].observations
    assert res["named"].observations["migrations"]["table"] == "drizzle.__drizzle_migrations"


def test_unreachable_server_is_a_retryable_error(tmp_path: Path) -> None:
    port = free_port()
    cfg = load(
        f"""
        checks:
          db: {{postgres: {{dsn: "postgresql://postgres@127.0.0.1:{port}/postgres"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "error"
    assert r.summary.startswith("cannot connect to PostgreSQL")
    assert "refused" in r.summary.lower()
    assert r.error and r.error["retryable"] is True
    assert "\n" not in r.summary


def test_unknown_database_is_a_non_retryable_error(tmp_path: Path) -> None:
    cfg = load(
        f"""
        checks:
          db: {{postgres: {{dsn: "{pgutil.dsn_for("opsbook_no_such_db_x")}"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "error"
    assert 'database "opsbook_no_such_db_x" does not exist' in r.summary
    assert r.error and r.error["retryable"] is False


def test_unknown_role_is_a_non_retryable_error(tmp_path: Path) -> None:
    cfg = load(
        f"""
        checks:
          db: {{postgres: {{dsn: "postgresql://opsbook_nobody:pw@{pgutil.PG_HOST}:{pgutil.PG_PORT}/postgres"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "error"
    assert 'role "opsbook_nobody" does not exist' in r.summary
    assert r.error and r.error["retryable"] is False


def test_dsn_password_never_appears_in_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("OPSBOOK_TEST_DSN", f"postgresql://app:Hunter2Secret@127.0.0.1:{port}/app")
    cfg = load(
        f"""
        resources:
          db: {{kind: postgres, dsn: {{env: OPSBOOK_TEST_DSN}}}}
        checks:
          ref: {{postgres: {{resource: db}}}}
          inline: {{postgres: {{dsn: "postgresql://app:Inline9Secret@127.0.0.1:{port}/app"}}}}
    """,
        tmp_path,
    )
    res = run(cfg)
    for r in res.values():
        assert r.status == "error"
        text = json.dumps(r.to_dict())
        assert "Hunter2Secret" not in text
        assert "Inline9Secret" not in text


def test_garbled_dsn_is_reported_without_echoing_it(tmp_path: Path) -> None:
    cfg = load(
        """
        checks:
          db: {postgres: {dsn: "host=x password=Garbled7Secret dbname"}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "error"
    assert "not a valid PostgreSQL connection string" in r.summary
    assert "Garbled7Secret" not in json.dumps(r.to_dict())
