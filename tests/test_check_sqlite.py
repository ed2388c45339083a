import os
import sqlite3
from pathlib import Path

from tests.support.helpers import load, run


def make_db(path: Path, *statements: str, wal: bool = False) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def test_query_value_rows_size_and_journal_mode(tmp_path: Path) -> None:
    make_db(
        tmp_path / "app.db",
        "CREATE TABLE users (id integer, name text, avatar blob)",
        "INSERT INTO users VALUES (1, 'ann', x'ff00'), (2, 'bob', NULL)",
        wal=True,
    )
    cfg = load(
        """
        resources:
          db: {kind: sqlite, path: app.db}
        checks:
          users: {sqlite: {resource: db, query: "SELECT count(*) FROM users"},
                  expect: ["value == 2"]}
          rows: {sqlite: {path: app.db, query: "SELECT * FROM users ORDER BY id"}}
    """,
        tmp_path,
    )
    res = run(cfg)
    assert res["users"].status == "pass", res["users"].summary
    o = res["rows"].observations
    assert res["rows"].status == "pass"
    assert o["rows"] == [
        {"id": 1, "name": "ann", "avatar": "ff00"},
        {"id": 2, "name": "bob", "avatar": None},
    ]
    assert o["row_count"] == 2
    assert o["journal_mode"] == "wal"
    assert o["size"] == os.path.getsize(tmp_path / "app.db")


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    cfg = load(
        """
        checks:
          db: {sqlite: {path: data/missing.db}}
    """,
        tmp_path,
    )
    r = run(cfg)["db"]
    assert r.status == "error"
    assert "no database file" in r.summary
    assert r.error and r.error["retryable"] is False
    assert not (tmp_path / "data" / "missing.db").exists()


def test_checks_never_write_the_file(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE t (x int)")
    before = (tmp_path / "app.db").read_bytes()
    cfg = load(
        """
        checks:
          w: {sqlite: {path: app.db, query: "INSERT INTO t VALUES (1)"}}
    """,
        tmp_path,
    )
    r = run(cfg)["w"]
    assert r.status == "error"
    assert "opsbook runs read-only queries here" in r.summary
    assert (tmp_path / "app.db").read_bytes() == before


def test_a_query_that_errors_is_an_error_naming_the_problem(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE t (x int)")
    cfg = load(
        """
        checks:
          q: {sqlite: {path: app.db, query: "SELECT * FROM nope"}}
    """,
        tmp_path,
    )
    r = run(cfg)["q"]
    assert r.status == "error"
    assert "no such table: nope" in r.summary


def test_a_file_that_is_not_sqlite_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("hello, I am not a database" * 100)
    cfg = load(
        """
        checks:
          q: {sqlite: {path: notes.db}}
    """,
        tmp_path,
    )
    r = run(cfg)["q"]
    assert r.status == "error"
    assert "not a database" in r.summary


def test_quick_check_reports_ok_on_a_healthy_file(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)")
    cfg = load(
        """
        checks:
          integrity: {sqlite: {path: app.db, quick_check: true}, expect: ["quick_check == 'ok'"]}
    """,
        tmp_path,
    )
    r = run(cfg)["integrity"]
    assert r.status == "pass", r.summary
    assert "quick_check ok" in r.summary


def test_a_runaway_query_is_interrupted_by_the_timeout(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE t (x int)")
    cfg = load(
        """
        checks:
          slow:
            sqlite:
              path: app.db
              query: >-
                WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)
                SELECT count(*) FROM c
            timeout: 500ms
    """,
        tmp_path,
    )
    r = run(cfg)["slow"]
    assert r.status == "error"
    assert "interrupted" in r.summary or "timed out" in r.summary
    assert r.duration_ms < 2000


def test_readiness_fails_when_migrations_table_is_empty(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE knex_migrations (id integer primary key, name text)")
    cfg = load(
        """
        checks:
          ready: {sqlite: {path: app.db, migrations: true}, expect: ["migrations.count > 0"]}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert r.observations["migrations"] == {
        "table": "knex_migrations",
        "exists": True,
        "count": 0,
        "latest": None,
    }


def test_readiness_passes_when_migrations_are_applied_and_names_the_latest(tmp_path: Path) -> None:
    make_db(
        tmp_path / "app.db",
        "CREATE TABLE knex_migrations (id integer primary key, name text)",
        "INSERT INTO knex_migrations (name) VALUES ('001_init.js'), ('002_users.js')",
    )
    cfg = load(
        """
        checks:
          ready: {sqlite: {path: app.db, migrations: true},
                  expect: ["migrations.count == 2", "migrations.latest == '002_users.js'"]}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "pass", r.observations


def test_a_named_migrations_table_that_does_not_exist_is_observed_not_an_error(
    tmp_path: Path,
) -> None:
    make_db(tmp_path / "app.db", "CREATE TABLE t (x int)")
    cfg = load(
        """
        checks:
          ready: {sqlite: {path: app.db, migrations: my_migrations},
                  expect: ["migrations.count > 0"]}
    """,
        tmp_path,
    )
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert r.observations["migrations"]["exists"] is False
    assert r.observations["migrations"]["table"] == "my_migrations"
