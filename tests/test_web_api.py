"""The JSON API: tokens and roles, one error envelope, the audit log, OpenAPI, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from opsbook.store import Store
from opsbook.web.app import create_app
from tests.support.helpers import serve_app
from tests.support.webutil import TOKENS, bearer, context, make_config, seeded_store, set_tokens

__all__ = ["seeded_store"]  # the `store` fixture


@pytest.fixture
def runs_now() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch,
           runs_now: list[tuple[str, str]]) -> Iterator[TestClient]:
    set_tokens(monkeypatch)
    cfg = make_config(tmp_path)

    async def run_now(kind: str, name: str) -> dict[str, Any]:
        runs_now.append((kind, name))
        return {"schema": "opsbook.check-run/1", "ok": True, "name": name}

    with TestClient(create_app(context(cfg, store, run_now=run_now))) as c:
        yield c


def envelope(resp: httpx.Response) -> dict[str, Any]:
    doc = resp.json()
    assert doc["schema"] == "opsbook.error/1"
    assert set(doc["error"]) == {"type", "message", "hint", "retryable"}
    return dict(doc["error"])


def test_api_without_a_token_is_401_in_the_error_envelope(client: TestClient) -> None:
    r = client.get("/api/v1/checks")
    assert r.status_code == 401
    assert "Bearer" in envelope(r)["hint"]


def test_a_wrong_token_is_401_and_is_not_echoed(client: TestClient) -> None:
    r = client.get("/api/v1/checks", headers={"Authorization": "Bearer not-a-real-token-xyz"})
    assert r.status_code == 401
    assert "not-a-real-token-xyz" not in r.text


def test_viewer_lists_checks_with_status_since_last_error_and_uptime(client: TestClient) -> None:
    r = client.get("/api/v1/checks", headers=bearer("developer"))
    assert r.status_code == 200
    checks = {c["name"]: c for c in r.json()["checks"]}
    api = checks["api-health"]
    assert api["status"] == "fail" and api["since"].startswith("2026-11-23T11:5")
    assert api["last_error"]["message"] == "GET -> 500"
    # 30 minutes of results, the last 5 failing: 25/30 of the day passed
    assert api["uptime"]["24h"] == pytest.approx(100 / 120, abs=0.01)
    assert checks["db-port"]["status"] == "pass" and checks["db-port"]["uptime"]["30d"] == 1.0


def test_viewer_token_cannot_run_a_check_and_the_refusal_is_audited(client: TestClient,
                                                                    runs_now: list[tuple[str, str]]) -> None:
    r = client.post("/api/v1/checks/api-health/run", headers=bearer("developer"))
    assert r.status_code == 403
    assert envelope(r)["type"] == "Forbidden"
    assert runs_now == []
    audit = client.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
    assert (audit[0]["actor"], audit[0]["action"], audit[0]["target"], audit[0]["outcome"]) == \
        ("developer", "check.run", "api-health", "denied")


def test_operator_runs_a_check_now_and_who_what_when_where_is_audited(client: TestClient,
                                                                      runs_now: list[tuple[str, str]]) -> None:
    r = client.post("/api/v1/checks/api-health/run", headers=bearer("on-call"))
    assert r.status_code == 200 and r.json()["ok"] is True
    assert runs_now == [("check", "api-health")]
    (entry, *_) = client.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
    assert entry["actor"] == "on-call" and entry["role"] == "operator" and entry["action"] == "check.run"
    assert entry["outcome"] == "ok" and entry["remote"] and entry["at"].startswith("2026-11-23T12:00")


def test_run_now_without_a_scheduler_is_503_saying_so(tmp_path: Path, store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    with TestClient(create_app(context(make_config(tmp_path), store))) as c:
        r = c.post("/api/v1/jobs/backup/nightly/run", headers=bearer("on-call"))
        assert r.status_code == 404 and "no backup named" in envelope(r)["message"]
        r = c.post("/api/v1/checks/api-health/run", headers=bearer("on-call"))
        assert r.status_code == 503
        assert "no scheduler" in envelope(r)["message"]


def test_audit_log_needs_admin(client: TestClient) -> None:
    assert client.get("/api/v1/audit", headers=bearer("on-call")).status_code == 403
    assert client.get("/api/v1/audit", headers=bearer("admin")).status_code == 200


def test_unknown_endpoint_and_wrong_method_use_the_error_envelope(client: TestClient) -> None:
    r = client.get("/api/v1/nope", headers=bearer("admin"))
    assert r.status_code == 404 and envelope(r)["type"] == "NotFound"
    r = client.put("/api/v1/checks", headers=bearer("admin"))
    assert r.status_code == 405 and envelope(r)["type"] == "MethodNotAllowed"
    r = client.get("/api/v1/checks/no-such-check/history", headers=bearer("admin"))
    assert r.status_code == 404 and "no check named" in envelope(r)["message"]
    r = client.get("/api/v1/checks/api-health/history?limit=abc", headers=bearer("admin"))
    assert r.status_code == 400 and envelope(r)["type"] == "BadRequest"


def test_bad_silence_body_is_422_in_the_envelope(client: TestClient) -> None:
    r = client.post("/api/v1/silences", headers=bearer("on-call"), content=b'{"matchers": []}')
    assert r.status_code in (422, 503)
    envelope(r)


def test_every_api_route_is_in_the_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/"):
            for m in route.methods or ():
                if m != "HEAD":
                    served.add((route.path, m.lower()))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    assert doc["paths"]["/api/v1/checks/{name}/run"]["post"]["description"] == "Needs role operator or higher."


def test_history_is_newest_first_and_pages_with_the_before_cursor(client: TestClient) -> None:
    first = client.get("/api/v1/checks/api-health/history?limit=10", headers=bearer("developer")).json()
    assert len(first["results"]) == 10 and first["results"][0]["status"] == "fail"
    times = [r["finished_at"] for r in first["results"]]
    assert times == sorted(times, reverse=True)
    nxt = client.get(f"/api/v1/checks/api-health/history?limit=10&before={first['next_before']}",
                     headers=bearer("developer")).json()
    assert nxt["results"][0]["finished_at"] < times[-1]


def test_check_detail_carries_the_last_failures_assertions(client: TestClient) -> None:
    doc = client.get("/api/v1/checks/api-health", headers=bearer("developer")).json()
    (a,) = doc["last_failure"]["assertions"]
    assert (a["expr"], a["actual"], a["expected"], a["ok"]) == ("status == 200", 500, "== 200", False)


def test_no_token_value_appears_in_any_api_response(client: TestClient) -> None:
    client.post("/api/v1/checks/api-health/run", headers=bearer("on-call"))
    for path in ("/api/v1/checks", "/api/v1/checks/api-health", "/api/v1/checks/api-health/history",
                 "/api/v1/runs", "/api/v1/audit", "/api/v1/openapi.json", "/api/v1/whoami"):
        text = client.get(path, headers=bearer("admin")).text
        for value in TOKENS.values():
            assert value not in text, path


def test_over_real_http_a_bearer_token_reads_and_errors_are_enveloped(tmp_path: Path, store: Store,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    app = create_app(context(make_config(tmp_path), store))
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        me = http.get("/api/v1/whoami", headers=bearer("on-call")).json()
        assert (me["name"], me["role"], me["via"]) == ("on-call", "operator", "bearer")
        r = http.get("/api/v1/checks")
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")
        assert json.loads(r.text)["schema"] == "opsbook.error/1"
        r = http.delete("/api/v1/silences/abc", headers=bearer("developer"))
        assert r.status_code in (403, 503)
        envelope(r)
