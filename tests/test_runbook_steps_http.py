"""The ``http`` step kind against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.load import Config
from opsbook.config.secrets import REDACTED
from opsbook.errors import UsageError
from opsbook.runbooks.steps.registry import STEPS
from tests.support.helpers import free_port, load, serve_app
from tests.support.steputil import render, run, step

SEEN: list[dict[str, Any]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes each request (method, path, headers, body) as JSON; /big sends 1 MiB."""
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    got = {"method": scope["method"], "path": scope["path"],
           "headers": {k.decode(): v.decode() for k, v in scope["headers"]}, "body": body.decode()}
    SEEN.append(got)
    if scope["path"] == "/big":
        payload, ctype, status = b"x" * (1 << 20), b"text/plain", 200
    else:
        payload, ctype = json.dumps(got).encode(), b"application/json"
        status = 503 if scope["path"] == "/down" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"x-served-by", b"test")]})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_app(app) as url:
        yield url


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return load("checks: {}\n", tmp_path)


def test_a_get_is_read_only_and_a_post_is_not(cfg: Config, base: str) -> None:
    assert render(cfg, step("http", f"url: {base}/health")).read_only
    assert render(cfg, step("http", f"method: head\nurl: {base}/health")).read_only
    assert not render(cfg, step("http", f"method: POST\nurl: {base}/deploy")).read_only
    assert not render(cfg, step("http", f"method: DELETE\nurl: {base}/cache")).read_only


def test_a_get_observes_status_headers_body_and_json(cfg: Config, base: str) -> None:
    r, out = run(cfg, step("http", f"url: {base}/health"))
    assert out.error is None
    assert r.target == base and r.display == f"GET {base}/health"
    assert out.observations["status"] == 200
    assert out.observations["headers"]["x-served-by"] == "test"
    assert out.observations["json"]["path"] == "/health"
    assert "/health" in out.observations["body"] and out.observations["duration"] >= 0


def test_a_post_sends_its_json_with_values_and_masks_secrets_in_the_display(cfg: Config, base: str) -> None:
    token = "bearer-t0ken-value-55"
    body = (f"method: POST\nurl: {base}/deploy/${{app}}\nheaders:\n  Authorization: Bearer ${{token}}\n"
            "  X-Release: ${version}\njson: {version: '${version}', note: 'by ${who}'}\n")
    values = {"app": "web", "token": token, "version": "1.2.3", "who": 'o\'neil "the" admin'}
    r, out = run(cfg, step("http", body, mutates="true"), values, frozenset({"token"}))
    got = SEEN[-1]
    assert got["method"] == "POST" and got["path"] == "/deploy/web"
    assert got["headers"]["authorization"] == f"Bearer {token}"
    assert json.loads(got["body"]) == {"version": "1.2.3", "note": 'by o\'neil "the" admin'}
    assert token not in r.display and f"Authorization: {REDACTED}" in r.display
    assert "X-Release: 1.2.3" in r.display
    # the server echoed the token back: what is kept of the response is redacted
    assert token not in out.output and token not in json.dumps(out.observations)


def test_a_big_body_is_bounded_but_counted(cfg: Config, base: str) -> None:
    _, out = run(cfg, step("http", f"url: {base}/big"))
    assert out.observations["body_bytes"] == 1 << 20
    assert len(out.observations["body"]) < 200 * 1024
    assert out.observations["json"] is None


def test_a_server_error_is_observed_not_an_error(cfg: Config, base: str) -> None:
    _, out = run(cfg, step("http", f"url: {base}/down"))
    assert out.error is None and out.observations["status"] == 503
    assert STEPS["http"].default_expect == ("status < 400",)


def test_an_unreachable_server_is_an_error_outcome_not_an_exception(cfg: Config) -> None:
    _, out = run(cfg, step("http", f"url: http://127.0.0.1:{free_port()}/"), timeout=5)
    assert out.error is not None and "failed" in out.error
    assert "status" not in out.observations


def test_a_malformed_body_is_refused_naming_the_key(cfg: Config) -> None:
    with pytest.raises(UsageError, match="method"):
        render(cfg, step("http", "method: FETCH\nurl: http://x/"))
    with pytest.raises(UsageError, match="url"):
        render(cfg, step("http", "method: GET\n"))


def test_lint_flags_a_post_without_mutates() -> None:
    kind = STEPS["http"]
    assert any("POST" in w for w in kind.lint(step("http", "method: POST\nurl: http://x/")))
    assert kind.lint(step("http", "method: POST\nurl: http://x/", mutates="true")) == []
    assert kind.lint(step("http", "url: http://x/")) == []
