"""End to end, as a user runs it: a real API whose /readyz reads a real PostgreSQL database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.clirun import opsbook
from tests.support.helpers import serve_app
from tests.support.pgutil import execute, scratch_database

PASSWORD = "e2e-Secret-pw-981"


def make_app(dsn: str) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "api", "version": "1.2.3"})

    async def readyz(_: Request) -> JSONResponse:
        # the seed's /readyz: SELECT 1 plus a non-empty migrations table
        try:
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                await conn.execute("SELECT 1")
                n = (await (await conn.execute("SELECT count(*) FROM _sqlx_migrations")).fetchone() or [0])[0]
        except psycopg.Error:
            return JSONResponse({"status": "not_ready", "checks": {"database": False}}, status_code=503)
        ok = n > 0
        return JSONResponse({"status": "ready" if ok else "not_ready",
                             "checks": {"database": True, "migrations": ok}}, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/health", health), Route("/readyz", readyz)])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    with scratch_database("opsbook_e2e") as dsn:
        execute(dsn, "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text)")
        # trust auth ignores the password, so a DSN with one works and lets us prove redaction
        secret_dsn = dsn.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
        with serve_app(make_app(dsn)) as url:
            cfg = tmp_path / "opsbook.yaml"
            cfg.write_text(f"""
version: 1
store: {{url: "sqlite:///{tmp_path}/store.db"}}
vars: {{base_url: "{url}"}}
resources:
  api: {{kind: http, url: "${{base_url}}"}}
  db: {{kind: postgres, dsn: {{env: E2E_DATABASE_URL}}}}
checks:
  db-ready:
    postgres: {{resource: db, migrations: true, query: "SELECT count(*) FROM _sqlx_migrations"}}
    expect: ["connected == true", "migrations.count > 0", "value > 0"]
  api-live:
    http: {{resource: api, path: /health}}
    expect: ["status == 200", "json.status == 'ok'", "duration < 2s"]
  api-ready:
    http: {{resource: api, path: /readyz}}
    expect: ["status == 200", "json.status == 'ready'", "json.checks.database == true"]
""")
            yield secret_dsn, dsn, cfg


def test_readyz_503_exits_1_naming_the_failing_assertion_with_actual_values(
    service: tuple[str, str, Path],
) -> None:
    secret_dsn, _, cfg = service
    r = opsbook("check", "--json", "-c", str(cfg), env={"E2E_DATABASE_URL": secret_dsn})
    assert r.code == 1, r.stderr
    by = {x["name"]: x for x in r.json["results"]}
    ready = by["api-ready"]
    assert ready["status"] == "fail"
    assert [(a["expr"], a["ok"], a["actual"]) for a in ready["assertions"]] == [
        ("status == 200", False, 503),
        ("json.status == 'ready'", False, "not_ready"),
        ("json.checks.database == true", True, True),
    ]
    assert by["api-live"]["status"] == "pass"
    assert by["db-ready"]["observations"]["migrations"]["count"] == 0
    # the human table names the failing assertion too
    human = opsbook("check", "api-ready", "-c", str(cfg), env={"E2E_DATABASE_URL": secret_dsn})
    assert human.code == 1
    assert "status == 200" in human.stdout and "503" in human.stdout


def test_after_migrations_run_everything_passes_and_the_flip_is_recorded(
    service: tuple[str, str, Path],
) -> None:
    secret_dsn, dsn, cfg = service
    env = {"E2E_DATABASE_URL": secret_dsn}
    assert opsbook("check", "-c", str(cfg), env=env).code == 1
    execute(dsn, "INSERT INTO _sqlx_migrations VALUES (20260101, 'init')")
    r = opsbook("check", "--json", "-c", str(cfg), env=env)
    assert r.code == 0, r.stdout
    flips = {(f["check"], f["from"], f["to"]) for f in r.json["flips"]}
    assert ("api-ready", "fail", "pass") in flips


def test_the_dsn_password_never_appears_in_any_output_or_stored_row(
    service: tuple[str, str, Path], tmp_path: Path,
) -> None:
    secret_dsn, _, cfg = service
    env = {"E2E_DATABASE_URL": secret_dsn}
    # a wrong database name makes the driver's error message include connection details
    bad_env = {"E2E_DATABASE_URL": secret_dsn.rsplit("/", 1)[0] + "/no_such_db_x"}
    runs = [
        opsbook("check", "-c", str(cfg), env=env),
        opsbook("check", "--json", "-c", str(cfg), env=env),
        opsbook("check", "--json", "-c", str(cfg), env=bad_env),
        opsbook("check", "-c", str(cfg), env=bad_env),
        opsbook("config", "show", "-c", str(cfg), env=env),
        opsbook("history", "db-ready", "--json", "-c", str(cfg), env=env),
    ]
    assert runs[2].json["results"][0]["status"] == "error"
    for r in runs:
        assert PASSWORD not in r.text
    with sqlite3.connect(tmp_path / "store.db") as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                assert PASSWORD not in repr(row)
