import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opsbook.demo.db import hash_password, verify_password
from tests.support.demo_service import Service, demo_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("demo")
    with demo_service(tmp, fault_file=tmp / "fault") as s:
        yield s


def test_health_reports_service_and_version(svc: Service) -> None:
    r = httpx.get(svc.url + "/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "service": "demo", "version": "1.0.0"}


def test_readyz_checks_database_and_migrations(svc: Service) -> None:
    r = httpx.get(svc.url + "/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": True, "migrations": True}}


def test_database_has_migrations_users_and_hashed_password(svc: Service) -> None:
    conn = sqlite3.connect(svc.db)
    assert conn.execute("SELECT count(*) FROM _sqlx_migrations").fetchone()[0] == 1
    (stored,) = conn.execute("SELECT password_hash FROM users").fetchone()
    assert "correct horse" not in stored and stored.startswith("scrypt$")
    assert conn.execute("SELECT count(*) FROM habits").fetchone()[0] >= 1
    conn.close()


def test_login_then_me_with_bearer_token(svc: Service) -> None:
    bad = httpx.post(svc.url + "/api/auth/login",
                     json={"email": "test@example.com", "password": "nope"})
    assert bad.status_code == 401 and "error" in bad.json()
    good = httpx.post(svc.url + "/api/auth/login",
                      json={"email": "test@example.com", "password": "correct horse"})
    assert good.status_code == 200
    token = good.json()["access_token"]
    me = httpx.get(svc.url + "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"email": "test@example.com"}
    assert httpx.get(svc.url + "/api/me").status_code == 401


def test_metrics_count_requests_by_status_and_path(svc: Service) -> None:
    httpx.get(svc.url + "/health")
    text = httpx.get(svc.url + "/metrics").text
    assert 'http_requests_total{method="GET",path="/health",status="200"}' in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'http_request_duration_seconds_bucket{le="+Inf"}' in text


def test_fault_switch_down_errors_slow_and_back(svc: Service) -> None:
    def fault(mode: str) -> None:
        assert httpx.post(svc.url + "/admin/fault", json={"mode": mode}).status_code == 200

    try:
        fault("down")
        r = httpx.get(svc.url + "/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] is False
        fault("errors")
        codes = [httpx.get(svc.url + "/api/me").status_code for _ in range(4)]
        assert codes.count(500) == 2
        fault("slow")
        t0 = time.monotonic()
        httpx.get(svc.url + "/health")
        assert time.monotonic() - t0 >= 0.75
    finally:
        fault("none")
    assert httpx.get(svc.url + "/readyz").status_code == 200
    assert httpx.post(svc.url + "/admin/fault", json={"mode": "bogus"}).status_code == 400


def test_fault_file_turns_readiness_off(svc: Service, tmp_path: Path) -> None:
    fault_file = svc.db.parent / "fault"
    fault_file.write_text("down\n")
    try:
        assert httpx.get(svc.url + "/readyz").status_code == 503
    finally:
        fault_file.unlink()
    assert httpx.get(svc.url + "/readyz").status_code == 200


def test_not_ready_until_ready_after_has_passed(tmp_path: Path) -> None:
    with demo_service(tmp_path, ready_after=1.0) as s:
        first = httpx.get(s.url + "/readyz")
        assert first.status_code == 503 and first.json()["status"] == "not_ready"
        time.sleep(1.1)
        assert httpx.get(s.url + "/readyz").status_code == 200


def test_password_hash_round_trip() -> None:
    h = hash_password("correct horse")
    assert verify_password("correct horse", h)
    assert not verify_password("wrong", h)
    assert not verify_password("x", "garbage")
