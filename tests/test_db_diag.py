"""`opsbook db` against the real PostgreSQL: reports see what other sessions do, remediation hits
exactly what it lists, the audit log says who and why, snapshots reach the incident timeline."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from opsbook.dbdiag import REPORTS
from opsbook.ops import db as ops_db
from opsbook.store import Store
from opsbook.store import audit as audit_rows
from tests.support import pgutil
from tests.support.clirun import in_a_terminal, opsbook
from tests.support.helpers import free_port, load, run

SECRET = "pw-Zq81xDistinct"  # the resource DSN's password: trust auth ignores it, the redactor must hide it


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with pgutil.scratch_database("opsbook_dbdiag") as d:
        pgutil.execute(d, "CREATE TABLE t (id int PRIMARY KEY, v int)", "INSERT INTO t VALUES (1, 0), (2, 0)")
        yield d


@pytest.fixture(scope="module")
def role(dsn: str) -> Iterator[str]:
    """A plain (not superuser) login role: the sessions remediation may hit."""
    name = f"dbdiag_{uuid.uuid4().hex[:8]}"
    pgutil.execute(pgutil.ADMIN_DSN, f"CREATE ROLE {name} LOGIN")
    pgutil.execute(dsn, f"GRANT ALL ON t TO {name}")
    yield name
    with psycopg.connect(pgutil.ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
        for dbname in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'opsbook_dbdiag%%'"):
            with psycopg.connect(pgutil.dsn_for(dbname[0]), autocommit=True) as c:
                c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def as_role(dsn: str, role: str) -> str:
    return dsn.replace(f"{pgutil.PG_USER}@", f"{role}@")


def with_password(dsn: str) -> str:
    return dsn.replace(f"{pgutil.PG_USER}@", f"{pgutil.PG_USER}:{SECRET}@")


@pytest.fixture
def cfg_file(tmp_path: Path, dsn: str) -> Path:
    p = tmp_path / "opsbook.yaml"
    p.write_text(f'resources:\n  db: {{kind: postgres, dsn: "{with_password(dsn)}"}}\n'
                 f'  web: {{kind: http, url: "http://127.0.0.1:1"}}\n')
    return p


def db_cli(cfg: Path, *args: str) -> Any:
    return opsbook("db", *args, "-c", str(cfg), "--store", f"sqlite:///{cfg.parent / 'store.db'}", cwd=cfg.parent)


def idle_in_transaction(dsn: str, app: str, query: str = "SELECT 1") -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, application_name=app)
    conn.execute(query)  # opens the transaction; the session then sits idle in it
    return conn


def wait_for(dsn: str, sql_text: str, params: list[Any]) -> None:
    deadline = time.monotonic() + 10
    with psycopg.connect(dsn, autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(sql_text, params).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"never true: {sql_text}")


def alive(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def test_connections_shows_an_idle_in_transaction_session_with_its_age_and_hides_the_secret(
        cfg_file: Path, dsn: str, role: str) -> None:
    victim = idle_in_transaction(as_role(dsn, role), "victim-app", f"SELECT '{SECRET}' AS leaked")
    try:
        r = db_cli(cfg_file, "connections", "db", "--json")
        assert r.code == 0, r.text
        doc = r.json
        assert doc["schema"] == "opsbook.db-connections/1" and doc["status"] == "ok"
        assert doc["idle_in_transaction"] >= 1 and doc["by_application"]["victim-app"] == 1
        mine = [s for s in doc["idle_in_transaction_sessions"] if s["pid"] == victim.info.backend_pid]
        assert len(mine) == 1 and mine[0]["user"] == role and mine[0]["xact_age_s"] >= 0
        assert "leaked" in mine[0]["query"] and SECRET not in r.text
        human = db_cli(cfg_file, "connections", "db")
        assert str(victim.info.backend_pid) in human.stdout and "Idle in transaction" in human.stdout
        assert SECRET not in human.text
    finally:
        victim.close()


def test_locks_shows_the_blocking_tree_who_blocks_whom(cfg_file: Path, dsn: str) -> None:
    holder = idle_in_transaction(dsn, "holder", "UPDATE t SET v = v + 1 WHERE id = 1")
    waiter = psycopg.connect(dsn, application_name="waiter")
    done = threading.Event()

    def blocked() -> None:
        try:
            waiter.execute("UPDATE t SET v = v + 10 WHERE id = 1")
            waiter.rollback()
        finally:
            done.set()

    th = threading.Thread(target=blocked, daemon=True)
    th.start()
    try:
        wait_for(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                 [waiter.info.backend_pid])
        r = db_cli(cfg_file, "locks", "db", "--json")
        assert r.code == 0, r.text
        doc = r.json
        assert doc["blocked"] == 1 and doc["roots"] == [holder.info.backend_pid]
        by_pid = {s["pid"]: s for s in doc["sessions"]}
        assert by_pid[waiter.info.backend_pid]["blocked_by"] == [holder.info.backend_pid]
        assert "v + 10" in by_pid[waiter.info.backend_pid]["query"]
        assert by_pid[holder.info.backend_pid]["state"] == "idle in transaction"
        human = db_cli(cfg_file, "locks", "db").stdout
        assert f"└ {waiter.info.backend_pid}" in human
    finally:
        holder.rollback()
        done.wait(10)
        holder.close()
        waiter.close()


def test_slow_says_the_extension_is_missing_and_how_to_fix_it_while_the_report_still_runs(
        cfg_file: Path, dsn: str) -> None:
    r = db_cli(cfg_file, "slow", "db")
    if r.code == 0:  # a server with pg_stat_statements loaded and created: then it reports
        assert "Top by total time" in r.stdout
        return
    assert r.code == 3, r.text
    assert "pg_stat_statements" in r.stdout and "shared_preload_libraries" in r.stdout
    assert "CREATE EXTENSION pg_stat_statements" in r.stdout
    page = db_cli(cfg_file, "report", "db")
    assert page.code == 0 and "not available" in page.stdout and "## Connections" in page.stdout


def test_the_report_renders_markdown_with_every_section_and_records_a_snapshot(cfg_file: Path) -> None:
    out = cfg_file.parent / "db.md"
    r = db_cli(cfg_file, "report", "db", "--out", str(out), "--record")
    assert r.code == 0, r.text
    page = out.read_text()
    assert page.startswith("# Database report: db")
    for module in REPORTS.values():
        assert f"## {module.TITLE} (`{module.NAME}`)" in page
    assert "### Blocking tree" in page and "| table |" in page and SECRET not in page
    listed = db_cli(cfg_file, "snapshots", "db", "--json").json["snapshots"]
    assert len(listed) == 1 and "connections" in listed[0]["summary"]
    again = db_cli(cfg_file, "report", "db", "--snapshot", str(listed[0]["id"]))
    assert again.code == 0 and "## Cache hit ratios" in again.stdout


def test_indexes_finds_duplicate_unused_and_invalid_ones(cfg_file: Path, dsn: str) -> None:
    pgutil.execute(dsn, "CREATE TABLE ix (a int, b int)", "INSERT INTO ix VALUES (1, 1), (1, 2)",
                   "CREATE INDEX ix_a ON ix (a)", "CREATE INDEX ix_ab ON ix (a, b)", "CREATE INDEX ix_a_twin ON ix (a)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        pgutil.execute(dsn, "CREATE UNIQUE INDEX CONCURRENTLY ix_a_unique ON ix (a)")  # fails, left invalid
    try:
        doc = db_cli(cfg_file, "indexes", "db", "--json").json
        dups = {d["index"]: d["covered_by"] for d in doc["duplicate"]}
        assert dups["public.ix_a"] == "public.ix_ab" and dups["public.ix_a_twin"] in ("public.ix_a", "public.ix_ab")
        assert not any(d["index"] == "public.ix_ab" for d in doc["duplicate"])
        assert [i["index"] for i in doc["invalid"]] == ["public.ix_a_unique"]
        assert {"public.ix_a", "public.ix_ab"} <= {u["index"] for u in doc["unused"]}
    finally:
        pgutil.execute(dsn, "DROP TABLE ix")


def test_terminate_idle_in_transaction_hits_exactly_that_session_and_the_audit_says_who_and_why(
        cfg_file: Path, dsn: str, role: str) -> None:
    victim = idle_in_transaction(as_role(dsn, role), "victim-app")
    bystander = psycopg.connect(as_role(dsn, role), application_name="bystander", autocommit=True)
    root = idle_in_transaction(dsn, "admin-console")  # a superuser's session: spared without --force
    other = idle_in_transaction(as_role(dsn, role), "opsbook-serve")  # another opsbook: spared too
    pid = victim.info.backend_pid  # 0 once the server has ended it
    try:
        r = db_cli(cfg_file, "terminate", "db", "--idle-in-transaction-longer-than", "0s", "--reason",
                   "INC-7: idle transactions hold row locks", "--yes", "--as", "alice", "--json")
        assert r.code == 0, r.text
        doc = r.json
        assert [(s["pid"], s["result"]) for s in doc["hit"]] == [(pid, "terminated")]
        spared = {s["pid"]: s["skipped"] for s in doc["skipped"]}
        assert "superuser" in spared[root.info.backend_pid] and "opsbook" in spared[other.info.backend_pid]
        assert not alive(victim) and alive(bystander) and alive(root) and alive(other)
        with Store.open(f"sqlite:///{cfg_file.parent / 'store.db'}") as store, store.read() as tx:
            row = audit_rows.recent(tx, 5)[0]
        assert (row["actor"], row["role"], row["action"], row["target"], row["outcome"]) == (
            "alice", "cli", "db.terminate", "db", "ok")
        assert row["detail"]["reason"] == "INC-7: idle transactions hold row locks"
        assert [h["pid"] for h in row["detail"]["hit"]] == [pid]
        assert row["detail"]["hit"][0]["user"] == role and row["detail"]["hit"][0]["application"] == "victim-app"
    finally:
        for c in (victim, bystander, root, other):
            c.close()


def test_terminate_refuses_without_yes_when_stdin_is_not_a_terminal(cfg_file: Path, dsn: str, role: str) -> None:
    victim = idle_in_transaction(as_role(dsn, role), "victim-app")
    try:
        r = db_cli(cfg_file, "terminate", "db", str(victim.info.backend_pid), "--reason", "test")
        assert r.code == 2 and "--yes" in r.stderr, r.text
        assert str(victim.info.backend_pid) in r.text  # it still showed what it would hit
        assert alive(victim)
    finally:
        victim.close()


def test_cancel_of_one_pid_cancels_its_query_and_keeps_the_session(cfg_file: Path, dsn: str, role: str) -> None:
    sleeper = psycopg.connect(as_role(dsn, role), application_name="sleeper", autocommit=True)
    errors: list[Exception] = []

    def sleep() -> None:
        try:
            sleeper.execute("SELECT pg_sleep(30)")
        except psycopg.Error as e:
            errors.append(e)

    th = threading.Thread(target=sleep, daemon=True)
    th.start()
    try:
        wait_for(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                 [sleeper.info.backend_pid])
        r = db_cli(cfg_file, "cancel", "db", str(sleeper.info.backend_pid), "--reason", "runaway", "--yes")
        assert r.code == 0, r.text
        th.join(10)
        assert errors and isinstance(errors[0], psycopg.errors.QueryCanceled)
        assert alive(sleeper)
    finally:
        sleeper.close()


def test_opsbooks_own_connection_is_never_hit_even_with_force() -> None:
    own = {"own": True, "backend_type": "client backend", "superuser": False, "application": "x"}
    assert ops_db._why_not(own, force=True) == "opsbook's own connection"
    worker = {**own, "own": False, "backend_type": "autovacuum worker"}
    assert "server process" in ops_db._why_not(worker, force=True)
    assert ops_db._why_not({**own, "own": False, "superuser": True}, force=True) == ""


def test_an_unknown_pid_is_a_usage_error(cfg_file: Path) -> None:
    r = db_cli(cfg_file, "terminate", "db", "999999", "--reason", "x", "--yes")
    assert r.code == 2 and "no session with pid 999999" in r.stderr


def test_an_unreachable_database_exits_3_with_a_hint(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f'resources:\n  db: {{kind: postgres, dsn: "postgresql://postgres@127.0.0.1:{free_port()}/x"}}\n')
    for args in (("connections", "db"), ("report", "db"), ("terminate", "db", "1", "--reason", "x", "--yes")):
        r = db_cli(cfg, *args)
        assert r.code == 3, r.text
        assert "cannot connect to PostgreSQL" in r.stderr and "hint:" in r.stderr


def test_a_wrong_resource_names_the_postgres_ones(cfg_file: Path) -> None:
    r = db_cli(cfg_file, "cache", "dbb")
    assert r.code == 2 and "no postgres resource named 'dbb'" in r.stderr and "'db'" in r.stderr
    r = db_cli(cfg_file, "cache", "web")
    assert r.code == 2 and "not postgres" in r.stderr


def test_diagnostic_observations_run_when_asked_for_or_when_an_assertion_reads_them(
        tmp_path: Path, dsn: str, role: str) -> None:
    victim = idle_in_transaction(as_role(dsn, role), "victim-app")
    try:
        cfg = load(f"""
            resources:
              db: {{kind: postgres, dsn: "{dsn}"}}
            checks:
              db-health:
                postgres: {{resource: db, diagnostics: true}}
                expect:
                  - connections.idle_in_transaction >= 1
                  # the server is shared with other tests' sessions: waits and blocks may be theirs
                  - connections.waiting >= 0
                  - locks.blocked >= 0
                  - activity.longest_s >= 0
                  - replication.max_lag_s == 0
                  - vacuum.wraparound_pct < 50
              pool-clean:
                postgres: {{resource: db}}  # no diagnostics: key: its expect reads one, so they run
                expect: [connections.idle_in_transaction == 0]
              plain:
                postgres: {{resource: db}}  # nothing reads them: the reports are not run
                expect: [connections.ratio < 1]
              told-not-to:
                postgres: {{resource: db, diagnostics: false}}
                warn: [locks.blocked == 0]
        """, tmp_path)
        got = run(cfg)
        assert got["db-health"].status == "pass", got["db-health"].assertions
        assert got["pool-clean"].status == "fail"
        assert got["pool-clean"].observations["connections"]["idle_in_transaction"] >= 1
        assert "idle_in_transaction" not in got["plain"].observations["connections"]
        assert "locks" not in got["told-not-to"].observations
        assert got["db-health"].observations["connections"]["max"] > 0  # the existing object keeps its keys
    finally:
        victim.close()


def test_snapshots_are_stored_and_linked_in_the_incident_timeline(any_store: Store, tmp_path: Path) -> None:
    from opsbook.config.incidents import Incidents
    from opsbook.ops import incident, timeline
    from opsbook.store import db_snapshots

    cfg = load("resources:\n  db: {kind: postgres, dsn: 'postgresql://x@127.0.0.1/x'}\n", tmp_path)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    inc = incident.declare(any_store, Incidents(), "DB pool exhausted", "SEV2", "ana", now,
                           detected_at=now - timedelta(minutes=5))
    doc = {"resource": "db", "reports": {"connections": {"status": "ok", "used": 99, "max": 100,
                                                         "idle_in_transaction": 7, "waiting": 3},
                                         "slow": {"status": "unavailable", "reason": "not installed"}}}
    before = ops_db.record(any_store, cfg, doc, "ana", now - timedelta(hours=2))
    during = ops_db.record(any_store, cfg, doc, "serve", now - timedelta(minutes=2))
    tl = timeline.for_incident(any_store, inc.row, now)
    snaps = [e for e in tl.entries if e.kind == "db.snapshot"]
    assert [e.ref for e in snaps] == [f"db_snapshots:{during}"] and before != during
    assert "7 idle in transaction" in snaps[0].summary and "not available: slow" in snaps[0].summary
    got = ops_db.get_snapshot(any_store, during)
    assert got.doc == doc and got.taken_by == "serve"
    big = {"resource": "db", "reports": {"tables": {"status": "ok", "count": 1, "largest": ["x" * 1000] * 2000}}}
    with any_store.transaction() as tx:
        sid = db_snapshots.insert(tx, resource="db", env="", taken_at=now, taken_by="t", summary="", doc=big)
    stored = ops_db.get_snapshot(any_store, sid).doc or {}
    assert stored["truncated"] is True and stored["reports"]["tables"] == {"status": "ok", "count": 1}


def test_serve_schedules_db_snapshots_of_postgres_resources_only(tmp_path: Path, dsn: str) -> None:
    from opsbook.daemon.schedule import units_of
    from opsbook.errors import ConfigError
    from opsbook.ops.units import run_unit

    cfg = load(f"""
        resources:
          db: {{kind: postgres, dsn: "{dsn}"}}
        serve: {{schedules: {{db_snapshots: {{db: 15m}}}}}}
    """, tmp_path)
    units = [u for u in units_of(cfg) if u.kind == "db_snapshot"]
    assert [(u.name, u.every) for u in units] == [("db", 900.0)]
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        out = run_unit(cfg, store, "db_snapshot", "db")
        assert out["ok"] and ops_db.list_snapshots(store, "db")[0].id == out["snapshot"]
    bad = load("resources:\n  web: {kind: http, url: 'http://x'}\nserve: {schedules: {db_snapshots: {web: 5m}}}\n",
               tmp_path)
    with pytest.raises(ConfigError, match="no postgres resource named 'web'"):
        units_of(bad)


def test_slow_with_the_extension_created_but_not_preloaded_says_that(cfg_file: Path, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'").fetchone():
            pytest.skip("pg_stat_statements is not available on this server")
        preloaded = "pg_stat_statements" in str(c.execute("SHOW shared_preload_libraries").fetchone())
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        r = db_cli(cfg_file, "slow", "db", "--json")
        if preloaded:
            assert r.code == 0 and "by_total" in r.json, r.text
        else:
            assert r.code == 3 and r.json["status"] == "unavailable", r.text
            assert "not loaded" in r.json["reason"] and "shared_preload_libraries" in r.json["fix"]
    finally:
        pgutil.execute(dsn, "DROP EXTENSION IF EXISTS pg_stat_statements")


def test_a_role_without_pg_monitor_is_told_which_sessions_it_cannot_see(
        tmp_path: Path, dsn: str, role: str) -> None:
    other = idle_in_transaction(dsn, "someone-else")  # a superuser's session: hidden from the plain role
    try:
        cfg = tmp_path / "opsbook.yaml"
        cfg.write_text(f'resources:\n  db: {{kind: postgres, dsn: "{as_role(dsn, role)}"}}\n')
        doc = db_cli(cfg, "connections", "db", "--json").json
        assert doc["status"] == "ok"
        assert any("pg_monitor" in n for n in doc["notes"]), doc["notes"]
        for report in ("activity", "locks"):
            assert any("pg_monitor" in n for n in db_cli(cfg, report, "db", "--json").json["notes"])
    finally:
        other.close()


def test_runbook_opsbook_steps_take_the_reports_as_read_only_and_remediation_as_mutating() -> None:
    from opsbook.runbooks.steps.opsbook_cmd import read_only

    assert read_only(["db", "locks", "db", "--json"]) and read_only(["db", "snapshots"])
    assert not read_only(["db", "terminate", "db", "--idle-in-transaction-longer-than", "10m", "--yes"])
    assert not read_only(["db", "report", "db", "--record"]) and not read_only(["db", "cancel", "db", "1"])


def _in_a_terminal(cfg: Path, answer: bytes, *args: str) -> tuple[int, str]:
    """Run `opsbook db ...` on a pty, answering the [y/N] question with ``answer``."""
    r = in_a_terminal("db", *args, "-c", str(cfg), "--store", f"sqlite:///{cfg.parent / 'store.db'}",
                      cwd=cfg.parent, answer=answer, at_most=1, env={"COLUMNS": "200"})
    return r.code, r.stdout


def test_in_a_terminal_it_shows_the_session_and_asks_and_no_means_nothing_is_done(
        cfg_file: Path, dsn: str, role: str) -> None:
    victim = idle_in_transaction(as_role(dsn, role), "victim-app")
    pid = victim.info.backend_pid
    try:
        code, text = _in_a_terminal(cfg_file, b"n", "terminate", "db", str(pid), "--reason", "INC-1")
        assert code == 1 and "victim-app" in text and "terminate 1 session(s)?" in text and "nothing done" in text
        assert alive(victim)
        code, text = _in_a_terminal(cfg_file, b"y", "terminate", "db", str(pid), "--reason", "INC-1")
        assert code == 0 and "terminated" in text, text
        assert not alive(victim)
    finally:
        victim.close()


def test_query_text_is_one_line_truncated_and_keeps_passwords_out() -> None:
    from opsbook.dbdiag.base import query_text

    assert query_text("SELECT\n  1,\t2") == "SELECT 1, 2"
    assert "hunter2" not in query_text("ALTER ROLE app PASSWORD 'hunter2' VALID UNTIL 'infinity'")
    assert "s3cr3t" not in query_text("SELECT dblink_connect('postgresql://app:s3cr3t@db/app')")
    long = query_text("SELECT " + "x, " * 500)
    assert len(long) == 200 and long.endswith("...")
