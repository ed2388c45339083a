"""User-written SQL (the postgres/sqlite checks' query:, integrity sql:) runs read-only, really.

Before: the postgres check and integrity ran the user's text with the simple protocol on a
session with default_transaction_read_only, so ALTER SYSTEM, VACUUM and
"BEGIN READ WRITE; CREATE TABLE ...; COMMIT" ran; a SQLite file opened with mode=ro still
let VACUUM INTO and ATTACH create files anywhere.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import pgutil
from tests.support.clirun import opsbook
from tests.support.helpers import load, run

READ_ONLY = "opsbook runs read-only queries here"
MARK = "0.0123457"  # an unlikely cpu_tuple_cost: ALTER SYSTEM would leave it in postgresql.auto.conf


@pytest.fixture
def dsn() -> Iterator[str]:
    with pgutil.scratch_database() as d:
        pgutil.execute(d, "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (2)")
        yield d
        _undo_alter_system()


def _undo_alter_system() -> None:
    # only if an old opsbook wrote it: the server's other settings are not ours to touch
    with psycopg.connect(pgutil.ADMIN_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_file_settings WHERE name = 'cpu_tuple_cost' "
                           "AND setting = %s", [MARK]).fetchone()
        if row and row[0]:
            conn.execute("ALTER SYSTEM RESET cpu_tuple_cost")


def _fact(dsn: str, query: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(query, [MARK] if "%s" in query else None).fetchone()
        return row[0] if row else None


# each statement, and the fact that shows whether it changed anything (None: nothing changed)
WRITES = {
    "alter-system": (f"ALTER SYSTEM SET cpu_tuple_cost = {MARK}",
                     "SELECT name FROM pg_file_settings WHERE name = 'cpu_tuple_cost' AND setting = %s"),
    "vacuum": ("VACUUM t", "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 't'"),
    "begin-read-write": ("BEGIN READ WRITE; CREATE TABLE x(); COMMIT", "SELECT to_regclass('x')::text"),
    "two-statements": ("SELECT 1; DROP TABLE t", "SELECT CASE WHEN to_regclass('t') IS NULL THEN 'dropped' END"),
    "create-table": ("CREATE TABLE y()", "SELECT to_regclass('y')::text"),
}


@pytest.mark.parametrize("case", list(WRITES))
def test_a_postgres_check_query_that_writes_is_an_error_and_changes_nothing(
        tmp_path: Path, dsn: str, case: str) -> None:
    query, fact = WRITES[case]
    cfg = load(f"""
        checks:
          q: {{postgres: {{dsn: "{dsn}", query: {json.dumps(query)}}}}}
    """, tmp_path)
    r = run(cfg)["q"]
    assert r.status == "error", r.summary
    assert READ_ONLY in r.summary, r.summary
    assert "one statement that only reads" in r.hint
    assert _fact(dsn, fact) is None


def test_a_postgres_check_select_still_passes(tmp_path: Path, dsn: str) -> None:
    cfg = load(f"""
        checks:
          q:
            postgres: {{dsn: "{dsn}", query: "SELECT count(*) AS n FROM t WHERE 'a%' LIKE 'a%'"}}
            expect: ["value == 2", "row_count == 1"]
    """, tmp_path)
    r = run(cfg)["q"]
    assert r.status == "pass", (r.summary, r.assertions)


def test_a_postgres_check_query_cannot_end_opsbooks_transaction(tmp_path: Path, dsn: str) -> None:
    cfg = load(f"""
        checks:
          q: {{postgres: {{dsn: "{dsn}", query: "COMMIT"}}}}
    """, tmp_path)
    r = run(cfg)["q"]
    assert r.status == "error" and READ_ONLY in r.summary, r.summary


def test_integrity_sql_that_writes_is_an_error_per_check_exit_1_and_changes_nothing(
        tmp_path: Path, dsn: str) -> None:
    checks = "\n".join(f"      - sql: {{name: {case}, query: {json.dumps(q)}}}" for case, (q, _) in WRITES.items())
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f"""
store: {{url: "sqlite:///{tmp_path / 'store.db'}"}}
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
integrity:
  core:
    resource: db
    checks:
{checks}
      - sql: {{name: reads, query: "SELECT count(*) FROM t", expect: "value == 2"}}
""")
    r = opsbook("integrity", "run", "core", "--json", "-c", str(cfg))
    assert r.code == 1, r.text
    assert "Traceback" not in r.text
    doc = r.json
    by_name = {c["name"]: c for c in doc["checks"]}
    for case, (_, fact) in WRITES.items():
        c = by_name[case]
        assert c["status"] == "error", c
        assert READ_ONLY in c["message"], c
        assert "one statement that only reads" in c["hint"], c
        assert _fact(dsn, fact) is None, case
    assert by_name["reads"]["status"] == "pass", by_name["reads"]


def _sqlite_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id int)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("query", [
    "VACUUM INTO '{out}'",
    "ATTACH 'file:{out}?mode=rwc' AS x",
    "SELECT 1; DROP TABLE t",
    "CREATE TABLE y(a)",
])
def test_a_sqlite_check_query_writes_no_file_anywhere(tmp_path: Path, query: str) -> None:
    db, out = tmp_path / "app.db", tmp_path / "elsewhere.db"
    _sqlite_db(db)
    cfg = load(f"""
        checks:
          q: {{sqlite: {{path: app.db, query: {json.dumps(query.format(out=out))}}}}}
    """, tmp_path)
    r = run(cfg)["q"]
    assert r.status == "error", r.summary
    assert READ_ONLY in r.summary, r.summary
    assert not out.exists()
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]


def test_integrity_sql_on_sqlite_cannot_turn_query_only_off_for_a_later_check(tmp_path: Path) -> None:
    db, out = tmp_path / "app.db", tmp_path / "copy.db"
    _sqlite_db(db)
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f"""
store: {{url: "sqlite:///{tmp_path / 'store.db'}"}}
resources:
  app: {{kind: sqlite, path: {db}}}
integrity:
  core:
    resource: app
    checks:
      - sql: {{name: unlock, query: "PRAGMA query_only = OFF"}}
      - sql: {{name: copy, query: "VACUUM INTO '{out}'"}}
      - sql: {{name: reads, query: "SELECT count(*) FROM t", expect: "value == 1"}}
""")
    r = opsbook("integrity", "run", "core", "--json", "-c", str(cfg))
    assert r.code == 1, r.text
    by_name = {c["name"]: c for c in r.json["checks"]}
    assert by_name["unlock"]["status"] == "error" and READ_ONLY in by_name["unlock"]["message"]
    assert by_name["copy"]["status"] == "error" and READ_ONLY in by_name["copy"]["message"]
    assert by_name["reads"]["status"] == "pass"
    assert not out.exists()
