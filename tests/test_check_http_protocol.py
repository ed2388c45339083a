"""The http kind's own HTTP/1.1 client against real servers: encodings, chunking, redirects, TLS."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.helpers import load, run, serve_app


async def gz(_: Request) -> Response:
    return Response(gzip.compress(b'{"status": "ok"}' * 1), headers={"Content-Encoding": "gzip"},
                    media_type="application/json")


async def bomb(_: Request) -> Response:
    # 50 MB of zeros compresses to ~50 KB: the probe must stop at max_body, not inflate it all
    return Response(gzip.compress(b"\0" * 50_000_000, compresslevel=1), headers={"Content-Encoding": "gzip"})


async def chunked(_: Request) -> StreamingResponse:
    async def parts() -> Iterator[bytes]:  # type: ignore[misc]
        for i in range(5):
            yield f"part{i};".encode()

    return StreamingResponse(parts(), media_type="text/plain")


async def post_redirect(_: Request) -> Response:
    return RedirectResponse("/echo-method", status_code=303)


async def echo_method(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "auth": request.headers.get("authorization")})


async def latin1(_: Request) -> Response:
    return Response("café".encode("latin-1"), media_type="text/plain; charset=latin-1")


APP = Starlette(routes=[
    Route("/gz", gz), Route("/bomb", bomb), Route("/chunked", chunked),
    Route("/post-redirect", post_redirect, methods=["POST"]),
    Route("/echo-method", echo_method, methods=["GET", "POST"]), Route("/latin1", latin1),
])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(APP) as u:
        yield u


def test_gzip_body_is_decoded_and_parsed_as_json(url: str, tmp_path: Path) -> None:
    r = run(load(f"checks: {{c: {{http: {{url: '{url}/gz'}}, expect: [\"json.status == 'ok'\"]}}}}", tmp_path))["c"]
    assert r.status == "pass", r.summary


def test_a_compression_bomb_is_cut_at_max_body(url: str, tmp_path: Path) -> None:
    r = run(load(f"checks: {{c: {{http: {{url: '{url}/bomb', max_body: 1000}}}}}}", tmp_path))["c"]
    assert r.status == "pass"
    assert r.observations["truncated"] is True
    assert len(r.observations["body"]) == 1000


def test_chunked_body_is_reassembled(url: str, tmp_path: Path) -> None:
    expect = "body == 'part0;part1;part2;part3;part4;'"
    r = run(load(f"checks: {{c: {{http: {{url: '{url}/chunked'}}, expect: [\"{expect}\"]}}}}", tmp_path))["c"]
    assert r.status == "pass", r.assertions


def test_post_followed_by_303_becomes_get(url: str, tmp_path: Path) -> None:
    r = run(load(f"checks: {{c: {{http: {{url: '{url}/post-redirect', method: POST, json: {{a: 1}}}},"
                 f" expect: [\"json.method == 'GET'\", 'redirects == 1']}}}}", tmp_path))["c"]
    assert r.status == "pass", r.assertions


def test_charset_from_content_type_is_honoured(url: str, tmp_path: Path) -> None:
    r = run(load(f"checks: {{c: {{http: {{url: '{url}/latin1'}}, expect: [\"body == 'café'\"]}}}}", tmp_path))["c"]
    assert r.status == "pass", r.assertions


def test_json_and_body_together_are_a_config_error(tmp_path: Path) -> None:
    from opsbook.errors import ConfigErrors

    with pytest.raises(ConfigErrors, match="not both"):
        load("checks: {c: {http: {url: 'http://x', json: {a: 1}, body: 'x'}}}", tmp_path)


def test_a_port_that_does_not_speak_http_is_a_clear_error(tmp_path: Path) -> None:
    # PostgreSQL answers garbage (or closes) to an HTTP request
    r = run(load("checks: {c: {http: {url: 'http://127.0.0.1:5432/'}, timeout: 3s}}", tmp_path))["c"]
    assert r.status == "error"
    assert "HTTP" in r.summary or "closed" in r.summary
