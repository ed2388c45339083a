"""A migration killed mid-load resumes: done tables are skipped, the interrupted one is
loaded again from scratch, and no row is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.support import pgutil
from tests.support.clirun import opsbook
from tests.support.migrate_fixtures import make_app_db

scratch_pg_database = pgutil.scratch_pg_database


def _status(dsn: str, table: str) -> str | None:
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            row = c.execute("SELECT status FROM _opsbook_migration WHERE table_name = %s", (table,)).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def test_rerun_after_sigkill_mid_load_completes_without_duplicates(tmp_path: Path, scratch_pg_database: str) -> None:
    make_app_db(tmp_path / "app.db", big=200_000)
    args = ["migrate", "sqlite-to-postgres", "--from", str(tmp_path / "app.db"), "--to", scratch_pg_database,
            "--jobs", "1", "--report-dir", str(tmp_path / "r"), "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "opsbook", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 30
        while _status(scratch_pg_database, "completions") != "loading":
            assert proc.poll() is None, "the migration finished before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)  # well inside the COPY of 200k rows
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert _status(scratch_pg_database, "users") == "done"
    with psycopg.connect(scratch_pg_database) as c:
        assert c.execute("SELECT count(*) FROM completions").fetchone() == (0,)  # rolled back whole
    r = opsbook(*args, cwd=tmp_path)
    assert r.code == 0, r.text
    loads = {t["table"]: t["status"] for t in r.json["tables"]}
    assert loads["users"] == "skipped" and loads["completions"] == "loaded"
    with psycopg.connect(scratch_pg_database) as c:
        assert c.execute("SELECT count(*), count(DISTINCT id) FROM completions").fetchone() == (200_050, 200_050)
