"""http check against a real Starlette app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.helpers import free_port, load, outcome, run, serve_app

TOKEN = "tok-s3cr3t-bearer-value"
PASSWORD = "pw-s3cr3t-basic-value"


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"X-Served-By": "test"})


async def readyz(request: Request) -> Response:
    return JSONResponse({"status": "starting"}, status_code=503)


async def slow(request: Request) -> Response:
    await asyncio.sleep(1)
    return PlainTextResponse("late")


async def old(request: Request) -> Response:
    return RedirectResponse("/health", status_code=302)


async def bearer(request: Request) -> Response:
    ok = request.headers.get("authorization") == f"Bearer {TOKEN}"
    return JSONResponse({"auth": ok}, status_code=200 if ok else 401)


async def basic(request: Request) -> Response:
    want = "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    ok = request.headers.get("authorization") == want
    return JSONResponse({"auth": ok}, status_code=200 if ok else 401)


async def echo(request: Request) -> Response:
    return JSONResponse({"method": request.method, "body": (await request.body()).decode()})


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * 100_000)


APP = Starlette(routes=[
    Route("/health", health), Route("/readyz", readyz), Route("/slow", slow),
    Route("/old", old), Route("/bearer", bearer), Route("/basic", basic),
    Route("/echo", echo, methods=["POST", "PUT"]), Route("/big", big),
])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(APP) as url:
        yield url


def test_health_passes_and_exposes_json_headers_and_phases(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"""
        resources:
          api: {{kind: http, url: "{base_url}"}}
        checks:
          live:
            http: {{resource: api, path: /health}}
            expect: ["status == 200", "json.status == 'ok'", "duration < 2s",
                     "header.x-served-by == 'test'", "header.content-type matches 'json'"]
    """, tmp_path)
    r = run(cfg)["live"]
    assert r.status == "pass", r.summary
    obs = r.observations
    assert obs["http_version"] == "HTTP/1.1"
    assert obs["url"] == f"{base_url}/health"
    assert obs["size"] == len(obs["body"]) > 0
    assert set(obs["phases"]) == {"dns", "connect", "tls", "first_byte", "total"}
    assert 0 < obs["phases"]["connect"] <= obs["phases"]["first_byte"] <= obs["phases"]["total"]
    assert obs["phases"]["tls"] == 0


def test_readyz_503_fails_naming_the_status_assertion(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          ready: {{http: {{url: "{base_url}/readyz"}},
                  expect: ["status == 200", "json.status == 'ready'"]}}
    """, tmp_path)
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert outcome(r, "status == 200").actual == 503
    assert not outcome(r, "json.status == 'ready'").ok
    assert r.observations["json"] == {"status": "starting"}


def test_default_expect_fails_on_5xx(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"checks: {{ready: {{http: {{url: '{base_url}/readyz'}}}}}}", tmp_path)
    r = run(cfg)["ready"]
    assert r.status == "fail"
    assert r.assertions[0].expr == "status < 400"


def test_redirects_are_followed_and_counted(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          follow: {{http: {{url: "{base_url}/old"}}, expect: ["status == 200", "redirects == 1"]}}
          stay: {{http: {{url: "{base_url}/old", follow_redirects: false}},
                 expect: ["status == 302"]}}
    """, tmp_path)
    r = run(cfg)
    assert r["follow"].status == "pass", r["follow"].summary
    assert r["follow"].observations["url"] == f"{base_url}/health"
    assert r["stay"].status == "pass", r["stay"].summary
    assert r["stay"].observations["header"]["location"] == "/health"


def test_slow_endpoint_times_out_as_an_error(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"checks: {{slow: {{http: {{url: '{base_url}/slow'}}, timeout: 300ms}}}}", tmp_path)
    r = run(cfg)["slow"]
    assert r.status == "error"
    assert "timed out" in r.summary


def test_connection_refused_is_an_error_with_a_hint(tmp_path: Path) -> None:
    cfg = load(f"checks: {{down: {{http: {{url: 'http://127.0.0.1:{free_port()}/'}}}}}}", tmp_path)
    r = run(cfg)["down"]
    assert r.status == "error"
    assert "cannot connect" in r.summary
    assert r.hint


def test_bearer_and_basic_auth_work_and_never_appear_in_the_result(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("API_PASSWORD", PASSWORD)
    cfg = load(f"""
        resources:
          api: {{kind: http, url: "{base_url}", auth: {{bearer: {{env: API_TOKEN}}}}}}
        checks:
          bearer: {{http: {{resource: api, path: /bearer}}, expect: ["status == 200"]}}
          basic:
            http:
              url: "{base_url}/basic"
              auth: {{basic: {{username: ops, password: {{env: API_PASSWORD}}}}}}
            expect: ["status == 200", "json.auth == true"]
    """, tmp_path)
    results = run(cfg)
    for r in results.values():
        assert r.status == "pass", r.summary
        dumped = json.dumps(r.to_dict())
        assert TOKEN not in dumped and PASSWORD not in dumped


def test_post_sends_json_body(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          post: {{http: {{url: "{base_url}/echo", method: POST, json: {{a: 1}}}},
                 expect: ["json.method == 'POST'", "json.body contains '\\"a\\"'"]}}
    """, tmp_path)
    r = run(cfg)["post"]
    assert r.status == "pass", (r.summary, r.observations)


def test_body_is_cut_at_max_body_and_json_skipped(base_url: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          big: {{http: {{url: "{base_url}/big", max_body: 1000}}, expect: ["truncated == true"]}}
    """, tmp_path)
    r = run(cfg)["big"]
    assert r.status == "pass", r.summary
    assert len(r.observations["body"]) == 1000
    assert r.observations["size"] == 100_000


def test_unknown_param_is_a_config_error(tmp_path: Path) -> None:
    from opsbook.errors import UsageError

    with pytest.raises(UsageError, match="bogus"):
        load("checks: {x: {http: {url: 'http://x', bogus: 1}}}", tmp_path)
