"""/api/v1/db: viewers read reports; operators cancel/terminate sessions, audited with what was hit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from starlette.testclient import TestClient

from opsbook.store import Store
from opsbook.web.app import create_app
from tests.support import pgutil
from tests.support.webutil import bearer, context, make_config, seeded_store, set_tokens

__all__ = ["seeded_store"]  # the `store` fixture


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with pgutil.scratch_database("opsbook_dbapi") as d:
        yield d


@pytest.fixture(scope="module")
def role(dsn: str) -> Iterator[str]:
    name = f"dbapi_{uuid.uuid4().hex[:8]}"
    pgutil.execute(pgutil.ADMIN_DSN, f"CREATE ROLE {name} LOGIN")
    yield name
    with psycopg.connect(pgutil.ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def client(tmp_path: Path, store: Store, dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    set_tokens(monkeypatch)
    cfg = make_config(tmp_path, extra=f'resources:\n  db: {{kind: postgres, dsn: "{dsn}"}}\n')
    with TestClient(create_app(context(cfg, store))) as c:
        yield c


def victim(dsn: str, role: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn.replace("postgres@", f"{role}@"), application_name="api-victim")
    conn.execute("SELECT 1")
    return conn


def test_a_viewer_reads_a_report_and_every_report(client: TestClient) -> None:
    r = client.get("/api/v1/db/db/cache", headers=bearer("developer"))
    assert r.status_code == 200, r.text
    assert r.json()["reports"]["cache"]["status"] == "ok"
    everything = client.get("/api/v1/db/db/all", headers=bearer("developer")).json()["reports"]
    assert set(everything) == {"connections", "activity", "locks", "slow", "indexes", "tables", "cache",
                               "replication", "vacuum"}
    assert client.get("/api/v1/db/db/nope", headers=bearer("developer")).status_code == 404
    assert client.get("/api/v1/db/db/cache").status_code == 401


def test_a_viewer_may_not_terminate_and_the_refusal_is_audited(client: TestClient, dsn: str, role: str) -> None:
    v = victim(dsn, role)
    try:
        r = client.post("/api/v1/db/db/terminate", headers=bearer("developer"),
                        json={"reason": "x", "idle_in_transaction_longer_than": "0s"})
        assert r.status_code == 403
        with psycopg.connect(dsn) as c:
            row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [v.info.backend_pid]).fetchone()
        assert row == (1,)
        (entry, *_) = client.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
        assert (entry["action"], entry["outcome"]) == ("db.terminate", "denied")
    finally:
        v.close()


def test_an_operator_previews_then_terminates_and_the_audit_row_lists_the_hit(
        client: TestClient, dsn: str, role: str) -> None:
    v = victim(dsn, role)
    pid = v.info.backend_pid
    try:
        body = {"reason": "INC-9 pool exhausted", "idle_in_transaction_longer_than": "0s", "dry_run": True}
        dry = client.post("/api/v1/db/db/terminate", headers=bearer("on-call"), json=body)
        assert dry.status_code == 200, dry.text
        assert [s["pid"] for s in dry.json()["hit"]] == [pid] and dry.json()["outcome"] == "dry run"
        done = client.post("/api/v1/db/db/terminate", headers=bearer("on-call"), json={**body, "dry_run": False})
        assert done.json()["outcome"] == "ok" and done.json()["hit"][0]["result"] == "terminated"
        (entry, *_) = client.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
        assert (entry["actor"], entry["role"], entry["action"], entry["target"]) == (
            "on-call", "operator", "db.terminate", "db")
        assert entry["detail"]["reason"] == "INC-9 pool exhausted" and entry["detail"]["hit"][0]["pid"] == pid
    finally:
        v.close()


def test_the_openapi_document_lists_the_db_routes(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/db/{resource}/{report}"]
    post = paths["/api/v1/db/{resource}/terminate"]["post"]
    assert post["description"] == "Needs role operator or higher." and "requestBody" in post
    assert "post" in paths["/api/v1/db/{resource}/cancel"]
