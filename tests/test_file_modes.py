"""Everything opsbook writes is private (files 0600, directories 0700) even under umask 022:
the store and its WAL/SHM, local backups, migration snapshots, drill reports, notification logs.
An existing store open to other users gets one warning naming the fix."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.drill import run_drill
from opsbook.notify.receivers import file as file_receiver
from opsbook.notify.receivers.base import SendContext
from opsbook.ops.drill import report_dir
from opsbook.ops.load import load
from opsbook.render.backup import write_drill_report
from opsbook.store import Store
from tests.support import pgutil
from tests.support.clirun import opsbook
from tests.support.daemonutil import serving, wait_for
from tests.support.migrate_fixtures import make_app_db, with_password

scratch_pg_database = pgutil.scratch_pg_database

CONFIG = """\
version: 1
resources:
  app-db: {kind: sqlite, path: ./app.db}
checks:
  ok: {command: {run: "echo ready"}, every: 1s}
backups:
  nightly: {source: app-db, path: ./backups}
drills:
  nightly-drill: {backup: nightly}
notify:
  receivers: {log: {file: {path: logs/notifications.jsonl}}}
  route: {receiver: log}
serve: {tick: 0.2s, jitter: 0}
"""


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The common default umask: without opsbook's care everything would be 0644/0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def write(tmp_path: Path) -> Path:
    with sqlite3.connect(tmp_path / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        c.executemany("INSERT INTO users (email) VALUES (?)", [(f"u{i}@x",) for i in range(50)])
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(CONFIG)
    return cfg


def modes_under(root: Path) -> dict[str, int]:
    """root and everything below it, by path relative to root."""
    out = {".": mode(root)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = mode(p)
    return out


def assert_private(root: Path) -> None:
    for rel, m in modes_under(root).items():
        want = 0o700 if (root / rel).is_dir() else 0o600
        assert m == want, f"{root / rel} is {m:04o}, want {want:04o}"


def test_the_store_is_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    r = opsbook("check", "ok", "-c", str(cfg))
    assert r.code == 0, r.text
    assert_private(tmp_path / ".opsbook")
    assert (tmp_path / ".opsbook" / "opsbook.db").is_file()
    assert "warning" not in r.stderr


def test_the_daemons_store_wal_and_shm_are_0600_while_it_runs(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    store = tmp_path / ".opsbook" / "opsbook.db"
    with serving(cfg, "--no-web") as s:
        wal, shm = store.with_name("opsbook.db-wal"), store.with_name("opsbook.db-shm")
        wait_for(lambda: wal.exists() and shm.exists() and "ran 1 check" in s.log(), 30, "the WAL", s.log)
        assert {p.name: mode(p) for p in (store, wal, shm)} == {
            "opsbook.db": 0o600, "opsbook.db-wal": 0o600, "opsbook.db-shm": 0o600}
        assert mode(store.parent) == 0o700
        s.signal(signal.SIGTERM)
        assert s.wait(20) == 0, s.log()


def test_an_unencrypted_local_backup_and_its_drill_report_are_private(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    r = opsbook("backup", "run", "nightly", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    assert_private(tmp_path / "backups")
    assert len(list((tmp_path / "backups" / "nightly").glob("*/manifest.json"))) == 1
    d = opsbook("drill", "run", "nightly-drill", "--json", "-c", str(cfg))
    assert d.code == 0, d.text
    report = Path(d.json["report"]["markdown"])
    assert report.parent == tmp_path / "docs" / "drill-logs"
    assert_private(tmp_path / "docs")


def test_notifications_jsonl_is_created_0600(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    r = opsbook("notify", "test", "log", "-c", str(cfg))
    assert r.code == 0, r.text
    assert_private(tmp_path / "logs")
    assert (tmp_path / "logs" / "notifications.jsonl").read_text().count("\n") == 1


def test_a_migration_snapshot_and_its_reports_are_private(tmp_path: Path, scratch_pg_database: str) -> None:
    make_app_db(tmp_path / "app.db")
    r = opsbook("migrate", "sqlite-to-postgres", "--from", str(tmp_path / "app.db"),
                "--to", with_password(scratch_pg_database), "--report-dir", str(tmp_path / "reports"),
                "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    assert Path(r.json["snapshot"]).parent == tmp_path / "reports"
    assert_private(tmp_path / "reports")


def test_writers_used_as_a_library_are_private_without_the_cli_umask(tmp_path: Path) -> None:
    """The CLI sets umask 077; the helpers give the same modes to code that imports opsbook."""
    cfg = load(write(tmp_path))
    with Store.open(f"sqlite:///{tmp_path / 'state' / 'store.db'}"):
        pass
    assert_private(tmp_path / "state")
    run_backup(cfg, "nightly")
    assert_private(tmp_path / "backups")
    where = report_dir(cfg.model.drills["nightly-drill"].report_dir, cfg.base_dir)  # as the daemon resolves it
    write_drill_report(where, "nightly-drill", run_drill(cfg, "nightly-drill").to_dict())
    assert_private(tmp_path / "docs")
    now = datetime.now(UTC)
    with httpx.Client() as http:
        file_receiver.send(cfg.model.notify.receivers["log"].file,  # type: ignore[union-attr]
                           {"schema": "x"}, SendContext("log", tmp_path, now, http))
    assert_private(tmp_path / "logs")


def test_a_store_open_to_other_users_is_warned_about_once_and_left_alone(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    store = shared / "store.db"
    sqlite3.connect(store).close()
    store.chmod(0o644)
    r = opsbook("check", "ok", "--store", f"sqlite:///{store}", "-c", str(cfg))
    assert r.code == 0, r.text
    assert r.stderr.count(f"run `chmod 600 {store}`") == 1, r.stderr
    assert r.stderr.count(f"run `chmod 700 {shared}`") == 1, r.stderr
    assert mode(store) == 0o644 and mode(shared) == 0o777  # the operator's choice, only warned about
    store.chmod(0o600)
    shared.chmod(0o755)  # listable is fine: names only, the data stays 0600
    r = opsbook("check", "ok", "--store", f"sqlite:///{store}", "-c", str(cfg))
    assert r.code == 0 and "warning" not in r.stderr, r.stderr
