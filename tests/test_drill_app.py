"""Drills with ``app:``: a real process is started against the restored database and must get ready.

The app is a tiny HTTP service (a script written to tmp_path, run with this interpreter): it
reads the DSN from the environment variable the drill sets, and answers /readyz 200 only when a
query on that database works.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.drill import run_drill
from opsbook.ops.load import load
from tests.support.backuputil import age_keypair, seed, write_config
from tests.support.clirun import opsbook
from tests.support.helpers import free_port
from tests.support.pgutil import ADMIN_DSN, scratch_database

APP = r'''
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg

port, mode, state = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dsn = os.environ["APP_DB"]
with open(state, "w") as f:
    json.dump({"pid": os.getpid(), "dsn": dsn}, f)
if mode == "crash":
    print("boom: refusing to start", file=sys.stderr)
    sys.exit(3)
time.sleep(0.7)  # a real app takes a moment before it listens: the drill has to wait for it
query = "SELECT count(*) FROM no_such_table" if mode == "never" else "SELECT count(*) FROM users"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                users = conn.execute(query).fetchone()[0]
                db = conn.info.dbname
            code, body = 200, {"status": "ready", "users": users, "db": db}
        except psycopg.Error as e:
            code, body = 503, {"status": "not ready", "error": str(e).strip()[:200]}
        data = json.dumps(body).encode()
        self.send_response(code if self.path == "/readyz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''


@dataclass
class Env:
    cfg: Path
    state: Path  # the app writes {"pid", "dsn"} here when it starts
    token: str  # in this test's drill names, so parallel tests never see each other's databases

    def drill(self, mode: str) -> str:
        return f"app_{mode}_{self.token}"


def app_dbs(token: str) -> set[str]:
    with psycopg.connect(ADMIN_DSN) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (f"drill\\_app\\_%\\_{token}\\_%",))}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    key, pub = age_keypair(tmp_path)
    app = tmp_path / "app.py"
    app.write_text(APP)
    state = tmp_path / "app-state.json"
    port = free_port()
    token = uuid.uuid4().hex[:6]

    def drill(mode: str, timeout: str) -> str:
        cmd = shlex.join([sys.executable, str(app), str(port), mode, str(state)])
        return f"""
  app_{mode}_{token}:
    backup: daily
    target: {{resource: drill-target}}
    identity: {{file: {key}}}
    verify: {{row_counts: all}}
    app:
      command: {json.dumps(cmd)}
      env_var: APP_DB
      ready: [app-ready]
      timeout: {timeout}"""

    with scratch_database("opsbook_drill_app_src") as dsn:
        seed(dsn)
        cfg = write_config(tmp_path, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
  drill-target: {{kind: postgres, dsn: "{ADMIN_DSN}"}}
checks:
  app-ready:
    http: {{url: "http://127.0.0.1:{port}/readyz"}}
    expect: ["status == 200", "json.status == 'ready'", "json.users == 2000"]
backups:
  daily:
    source: db
    path: ./backups
    encrypt: {{age_recipients: ["{pub}"]}}
drills:{drill("ok", "60s")}{drill("never", "3s")}{drill("crash", "60s")}
""")
        try:
            yield Env(cfg, state, token)
        finally:
            leaked = app_dbs(token)
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                for db in leaked:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            if state.exists():  # never leave the app running, whatever the test did
                _kill(json.loads(state.read_text())["pid"])
        assert not leaked, f"scratch databases left behind: {leaked}"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has stopped, only not been reaped yet


def _kill(pid: int) -> None:
    if _alive(pid):
        os.kill(pid, 9)


def test_the_app_gets_ready_on_the_restored_database_and_is_stopped_afterwards(env: Env) -> None:
    assert opsbook("backup", "run", "daily", "-c", str(env.cfg)).code == 0
    r = opsbook("drill", "run", env.drill("ok"), "--json", "--report-dir", str(env.cfg.parent / "reports"),
                "-c", str(env.cfg))
    assert r.code == 0, r.text
    doc = r.json
    assert doc["ok"] and doc["error"] is None
    assert list(doc["phases_ms"]) == ["fetch", "decrypt_decompress", "restore", "verify", "app_ready"]
    assert doc["phases_ms"]["app_ready"] > 0
    assert "| app_ready | " in Path(doc["report"]["markdown"]).read_text()
    ready = next(c for c in doc["checks"] if c["name"] == "app:ready")
    assert ready["ok"] and ready["summary"] == "ready: app-ready"
    started = json.loads(env.state.read_text())
    # the app was given the restored scratch database, not the source
    assert psycopg.conninfo.conninfo_to_dict(started["dsn"])["dbname"] == doc["scratch"]
    assert doc["scratch"].startswith("drill_app_ok_")
    assert not _alive(started["pid"]), "the app is still running after the drill"
    assert not app_dbs(env.token)


def test_an_app_that_never_gets_ready_fails_the_drill_and_the_scratch_database_is_dropped(env: Env) -> None:
    config = load(env.cfg)
    run_backup(config, "daily")
    result = run_drill(config, env.drill("never"))
    assert not result.ok
    assert "app_ready" in result.phases_ms
    [ready] = [c for c in result.checks if c.name.startswith("app:")]
    assert ready.name == "app:ready" and not ready.ok
    assert ready.summary.startswith("not ready within 3s; last: app-ready:")
    assert "app:ready: not ready within 3s" in result.issues()[0]
    # the other verifications passed: the app is what failed the drill
    assert all(c.ok for c in result.checks if c.name != "app:ready")
    assert not _alive(json.loads(env.state.read_text())["pid"])
    assert not result.kept and not app_dbs(env.token)


def test_an_app_that_exits_at_once_fails_with_its_status_and_output(env: Env) -> None:
    assert opsbook("backup", "run", "daily", "-c", str(env.cfg)).code == 0
    r = opsbook("drill", "run", env.drill("crash"), "--json", "--no-report", "-c", str(env.cfg))
    assert r.code == 1, r.text
    doc = r.json
    assert not doc["ok"] and doc["error"] is None and "app_ready" in doc["phases_ms"]
    ready = next(c for c in doc["checks"] if c["name"] == "app:ready")
    assert not ready["ok"]
    assert ready["summary"] == "the app exited with status 3: boom: refusing to start"
    assert doc["issues"] == ["app:ready: the app exited with status 3: boom: refusing to start"]
    assert not app_dbs(env.token)


def test_keep_leaves_the_scratch_database_of_a_failed_app_drill(env: Env) -> None:
    config = load(env.cfg)
    run_backup(config, "daily")
    result = run_drill(config, env.drill("crash"), keep=True)
    assert not result.ok and result.kept
    assert app_dbs(env.token) == {result.scratch}  # for inspection
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{result.scratch}" WITH (FORCE)')
