"""`opsbook serve --once` on a fresh store runs everything: a store that has never run a unit has
every unit due, checks (whatever the jitter), scheduled jobs (whatever the cron time) and chores."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from opsbook.daemon import leases
from opsbook.store import Store
from tests.support.daemonutil import serving


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        c.executemany("INSERT INTO users (email) VALUES (?)", [(f"u{i}@x",) for i in range(10)])


def test_serve_once_on_a_fresh_store_records_one_result_per_check_and_runs_the_due_jobs(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db")
    names = [f"c{i}" for i in range(8)]
    checks = "\n".join(f'  {n}: {{command: {{run: "true"}}, every: 1h}}' for n in names)
    cfg = tmp_path / "opsbook.yaml"
    # default jitter (0.1 of an hour, capped at 30 s) and a cron time that is hours away
    cfg.write_text(textwrap.dedent("""
        version: 1
        resources:
          app-db: {kind: sqlite, path: ./app.db}
        backups:
          nightly: {source: app-db, path: ./backups, schedule: "0 4 * * *"}
        integrity:
          core:
            resource: app-db
            checks:
              - row_count: {table: users, min: 1}
        serve:
          schedules: {integrity: {core: "0 4 * * *"}}
        checks:
    """) + checks + "\n")
    with serving(cfg, "--once", name="once") as s:
        assert s.wait(60) == 0, s.log()
    store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
    try:
        assert {n: len(store.history(n)) for n in names} == {n: 1 for n in names}
        ran = {(r["kind"], r["name"]): r["status"] for r in store.runs(limit=100)}
        assert ran.get(("backup", "nightly")) is not None, ran
        assert ran.get(("integrity", "core")) is not None, ran
        assert {r.kind: r.runs for r in leases.rows(store)}.keys() >= {"check", "backup", "integrity",
                                                                        "rules", "outbox", "rollup"}
        assert all(r.runs == 1 for r in leases.rows(store)), [(r.unit_key, r.runs) for r in leases.rows(store)]
    finally:
        store.close()
