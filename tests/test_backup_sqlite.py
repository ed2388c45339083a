"""SQLite backups use the online backup API; their drill restores to a temp file and checks it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.backup.verify import verify_backup
from opsbook.jobs.drill import run_drill
from opsbook.ops.load import load
from tests.support.backuputil import age_keypair, write_config
from tests.support.clirun import opsbook


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, created_at TEXT)")
        c.executemany("INSERT INTO users (email, created_at) VALUES (?, datetime('now'))",
                      [(f"u{i}@x",) for i in range(1000)])


def config(tmp: Path, pub: str, key: Path) -> Path:
    return write_config(tmp, f"""
resources:
  app-db: {{kind: sqlite, path: ./app.db}}
backups:
  nightly: {{source: app-db, path: ./backups, encrypt: {{age_recipients: ["{pub}"], identity: {{file: {key}}}}}}}
drills:
  nightly-drill:
    backup: nightly
    identity: {{file: {key}}}
    verify:
      freshness: {{table: users, column: created_at, max_age: 1h}}
      sql: [{{name: emails, query: "SELECT count(*) FROM users WHERE email IS NULL", expect: "value == 0"}}]
""")


def test_a_sqlite_backup_is_consistent_while_a_writer_keeps_writing(tmp_path: Path) -> None:
    key, pub = age_keypair(tmp_path)
    make_db(tmp_path / "app.db")
    cfg = load(config(tmp_path, pub, key))
    stop = threading.Event()

    def writer() -> None:
        with sqlite3.connect(tmp_path / "app.db", timeout=10) as c:
            while not stop.is_set():
                c.execute("INSERT INTO users (email, created_at) VALUES ('w@x', datetime('now'))")
                c.commit()

    t = threading.Thread(target=writer)
    t.start()
    try:
        result = run_backup(cfg, "nightly")
    finally:
        stop.set()
        t.join()
    assert result.manifest.tables["users"].rows >= 1000
    assert verify_backup(cfg, "nightly").ok
    drill = run_drill(cfg, "nightly-drill")
    assert drill.ok, drill.to_dict()
    assert [c.name for c in drill.checks][:2] == ["integrity_check", "row_counts"]
    assert drill.tables[0].actual == result.manifest.tables["users"].rows


def test_the_sqlite_drill_cli_writes_its_report(tmp_path: Path) -> None:
    key, pub = age_keypair(tmp_path)
    make_db(tmp_path / "app.db")
    cfg = config(tmp_path, pub, key)
    assert opsbook("backup", "run", "nightly", "-c", str(cfg)).code == 0
    r = opsbook("drill", "run", "nightly-drill", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    assert Path(r.json["report"]["markdown"]).parent == tmp_path / "docs" / "drill-logs"
