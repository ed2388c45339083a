"""The ntfy receiver against a real local HTTP server: path, ntfy's headers, Bearer token,
retryable and permanent errors, no topic or token in any error."""

from __future__ import annotations

import email.header
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opsbook.errors import ConfigErrors, DeliveryError
from opsbook.notify.pipeline import send_one
from tests.support.helpers import load, serve_app

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOPIC = "opsbook-alerts-5f3c9a"


@dataclass
class Ntfy:
    """Answers like an ntfy server; records every request; fails with ``fail`` while set."""

    fail: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def publish(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
            if self.fail:
                return JSONResponse({"code": 40301, "http": self.fail, "error": "nope"}, status_code=self.fail,
                                    headers={"Retry-After": "30"} if self.fail == 429 else {})
        return JSONResponse({"id": "hwQ2YpKdmg", "event": "message", "topic": request.path_params["topic"]})


@contextmanager
def ntfy_server() -> Iterator[tuple[Ntfy, str]]:
    srv = Ntfy()
    with serve_app(Starlette(routes=[Route("/{topic}", srv.publish, methods=["POST"])])) as url:
        yield srv, url


def payload(state: str = "firing", severity: str = "page", summary: str = "the API is down") -> dict[str, Any]:
    return {"id": "n1", "kind": "notification", "status": state, "group_labels": {"alertname": "api-down"},
            "alerts": [{"state": state, "labels": {"alertname": "api-down", "severity": severity},
                        "annotations": {"summary": summary}, "reason": "check api failing"}]}


def config(url: str, tmp_path: Path, extra: str = "") -> Any:
    return load(f"""
        notify:
          receivers:
            phone: {{ntfy: {{url: "{url}", topic: {TOPIC}, token: {{env: NTFY_TOKEN}}, tags: [prod]{extra}}}}}
        """, tmp_path)


def test_a_firing_alert_is_posted_to_the_topic_with_ntfy_headers(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTFY_TOKEN", "tk_secret0token1")
    with ntfy_server() as (srv, url):
        receipt = send_one(config(url, tmp_path), "phone", payload(), NOW)
        resolved = send_one(config(url, tmp_path), "phone", payload("resolved"), NOW)
    assert receipt == {"http_status": 200, "id": "hwQ2YpKdmg"} and resolved["http_status"] == 200
    first, second = srv.requests
    assert first["path"] == f"/{TOPIC}"
    h = first["headers"]
    assert h["title"] == "[FIRING:1] api-down - the API is down"
    assert h["priority"] == "urgent" and h["tags"] == "warning,prod"
    assert h["authorization"] == "Bearer tk_secret0token1"
    assert b"FIRING alertname=api-down severity=page" in first["body"] and b"the API is down" in first["body"]
    assert second["headers"]["title"].startswith("[RESOLVED]")
    assert second["headers"]["priority"] == "default" and second["headers"]["tags"] == "white_check_mark,prod"


def test_a_non_ascii_title_is_sent_rfc2047_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTFY_TOKEN", "tk_secret0token1")
    with ntfy_server() as (srv, url):
        send_one(config(url, tmp_path, ", priority: {ticket: high}"), "phone",
                 payload(severity="ticket", summary="latence élevée — 2 s"), NOW)
    h = srv.requests[0]["headers"]
    [(raw, charset)] = email.header.decode_header(h["title"])
    assert isinstance(raw, bytes) and raw.decode(charset or "ascii") == "[FIRING:1] api-down - latence élevée — 2 s"
    assert h["priority"] == "high"


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (500, True), (403, False),
                                                   (400, False)])
def test_errors_are_retryable_on_5xx_and_429_only_and_name_no_topic_or_token(
        status: int, retryable: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTFY_TOKEN", "tk_secret0token1")
    with ntfy_server() as (srv, url):
        srv.fail = status
        with pytest.raises(DeliveryError) as e:
            send_one(config(url, tmp_path), "phone", payload(), NOW)
    err = e.value
    assert err.retryable is retryable and err.status == status
    assert (err.retry_after == 30) if status == 429 else True
    text = str(err.to_dict())
    assert TOPIC not in text and "tk_secret0token1" not in text and "ntfy phone" in text


def test_a_receiver_without_a_topic_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load("notify:\n  receivers:\n    phone: {ntfy: {url: 'https://ntfy.example'}}\n", tmp_path)
    assert "notify.receivers.phone.ntfy.topic" in str(e.value) and "missing required key 'topic'" in str(e.value)
