"""The daemon's web surface against a hostile client, over a real uvicorn server on 127.0.0.1:
body caps before reading, authentication before names or bodies, refused requests audited and
throttled, revocable sessions, security headers, heartbeat keys, /metrics exposure."""

from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from opsbook.config.load import Config
from opsbook.config.web import Api, metrics_note
from opsbook.store import Store
from opsbook.web.app import create_app
from opsbook.web.context import WebContext
from tests.support.helpers import serve_app
from tests.support.webutil import NOW, TOKENS, bearer, make_config, seeded_store, set_tokens

HEARTBEATS = """
heartbeats:
  worker: {every: 5m, token: {env: WORKER_PING_TOKEN}}
  legacy: {every: 1h}
"""
PING_TOKEN = "wk-5e1f-ping-token"

__all__ = ["seeded_store"]  # the `store` fixture


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    set_tokens(monkeypatch)
    monkeypatch.setenv("WORKER_PING_TOKEN", PING_TOKEN)
    return make_config(tmp_path, extra=HEARTBEATS)


def serve(cfg: Config, store: Store, clock: Clock | None = None, host: str = "127.0.0.1",
          holder: list[Config] | None = None) -> WebContext:
    box = holder if holder is not None else [cfg]
    return WebContext(get_config=lambda: box[0], store=store, clock=clock or Clock(), listen_host=host)


def raw_request(base: str, head: str, body_parts: list[bytes]) -> bytes:
    """Send a request's head and some body parts over a socket, then read the answer without
    sending the rest: a server that waits for the whole body never answers (the deadline fails it)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for part in body_parts:
                s.sendall(part)
        except OSError:
            pass  # the server answered and closed while we were still sending: what we want
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def status_of(raw: bytes) -> int:
    m = re.match(rb"HTTP/1\.1 (\d{3})", raw)
    assert m, raw[:200]
    return int(m.group(1))


def audit_rows(base: str) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = httpx.get(f"{base}/api/v1/audit", headers=bearer("admin"),
                                                 timeout=10).json()["entries"]
    return entries


def login(c: httpx.Client, who: str) -> None:
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = c.post("/login", data={"token": TOKENS[who], "csrf": csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text


# -- 9: request bodies -----------------------------------------------------------------------------


def test_a_200_mb_body_without_a_token_is_refused_without_being_read(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        head = ("POST /api/v1/silences HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                f"Content-Length: {200 * 1024 * 1024}\n")
        # only 64 KiB of the declared 200 MB is ever sent: the answer cannot wait for the rest
        raw = raw_request(base, head, [b"x" * 65536])
    assert status_of(raw) in (401, 413)


def test_a_declared_body_over_the_cap_is_413_in_the_error_envelope(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        r = httpx.post(f"{base}/api/v1/silences", headers=bearer("on-call"), content=b"{" + b" " * (1024 * 1024 + 10),
                       timeout=10)
    assert r.status_code == 413
    assert r.json()["schema"] == "opsbook.error/1" and r.json()["error"]["type"] == "PayloadTooLarge"


def test_a_chunked_body_over_the_cap_is_cut_at_the_cap(cfg: Config, store: Store) -> None:
    cfg.model.api.max_body = Api(max_body="64KiB").max_body
    with serve_app(create_app(serve(cfg, store))) as base:
        head = (f"POST /api/v1/silences HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKENS['on-call']}\n"
                "Content-Type: application/json\nTransfer-Encoding: chunked\n")
        chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
        # 80 KiB sent, the terminating chunk never: the server must stop at 64 KiB and answer
        raw = raw_request(base, head, [chunk] * 5)
    assert status_of(raw) == 413
    assert b"PayloadTooLarge" in raw or b"content-length" in raw.lower()


# -- 10: heartbeat keys and ping bodies -----------------------------------------------------------


def pings(store: Store, name: str) -> list[str]:
    with store.db.transaction() as tx:
        return [str(b) for (b,) in tx.all("SELECT body FROM heartbeat_pings WHERE name = ? ORDER BY id", (name,))]


def test_a_heartbeat_with_a_token_refuses_pings_without_its_key(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        url = f"{base}/api/v1/heartbeats/worker/success"
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, params={"key": "wrong"}, timeout=10).status_code == 401
        assert httpx.post(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert httpx.get(url, params={"key": PING_TOKEN}, timeout=10).status_code == 200
        assert httpx.post(url, headers={"Authorization": f"Bearer {PING_TOKEN}"}, content=b"done",
                          timeout=10).status_code == 200
        # a heartbeat without a token still takes its name as the credential
        assert httpx.get(f"{base}/api/v1/heartbeats/legacy/success", timeout=10).status_code == 200
    assert pings(store, "worker") == ["", "done"]


def test_an_unknown_heartbeat_answers_like_a_wrong_key_so_names_cannot_be_enumerated(cfg: Config,
                                                                                    store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        unknown = httpx.get(f"{base}/api/v1/heartbeats/nope/success", timeout=10)
        wrong = httpx.get(f"{base}/api/v1/heartbeats/worker/success", params={"key": "x"}, timeout=10)
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["error"]["message"] == wrong.json()["error"]["message"]
    assert PING_TOKEN not in wrong.text


def test_a_ping_body_is_stored_truncated_at_10_000_bytes(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        r = httpx.post(f"{base}/api/v1/heartbeats/worker/fail", params={"key": PING_TOKEN}, content=b"y" * 500_000,
                       timeout=10)
    assert r.status_code == 200
    assert [len(b) for b in pings(store, "worker")] == [10_000]


# -- 11: authenticate first, audit and throttle refusals ------------------------------------------


def test_unknown_names_answer_401_without_a_token_not_404(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base:
        for path in ("/api/v1/checks/nope/run", "/api/v1/jobs/backup/nope/run", "/api/v1/alerts/nope/ack"):
            assert httpx.post(base + path, timeout=10).status_code == 401, path
        page = httpx.post(base + "/checks/nope/run", headers={"accept": "text/html"}, timeout=10)
        assert page.status_code == 303 and "/login" in page.headers["location"]


def test_refused_requests_are_audited_one_row_per_address_per_minute_with_a_count(cfg: Config,
                                                                                 store: Store) -> None:
    clock = Clock()
    with serve_app(create_app(serve(cfg, store, clock))) as base:
        for _ in range(3):
            assert httpx.get(f"{base}/api/v1/checks", headers={"Authorization": "Bearer nope-token"},
                             timeout=10).status_code == 401
        assert httpx.post(f"{base}/api/v1/checks/api-health/run", timeout=10).status_code == 401
        clock.now += timedelta(minutes=1)
        assert httpx.get(f"{base}/api/v1/slos", timeout=10).status_code == 401
        rows = [e for e in audit_rows(base) if e["action"] == "auth.refused"]
    assert [(e["remote"], e["outcome"]) for e in rows] == [("127.0.0.1", "refused")] * 2
    newest, first = rows
    assert first["detail"] == {"count": 4, "by_status": {"401": 4}, "reason": "authentication required",
                               "last": "POST /api/v1/checks/api-health/run"}
    assert first["target"] == "GET /api/v1/checks" and newest["detail"]["count"] == 1  # type: ignore[index]
    assert "nope-token" not in str(rows)


def test_ten_wrong_tokens_a_minute_get_429_with_retry_after_even_for_the_right_token(cfg: Config,
                                                                                    store: Store) -> None:
    clock = Clock()
    with serve_app(create_app(serve(cfg, store, clock))) as base:
        for i in range(10):
            clock.now = NOW + timedelta(seconds=i)
            r = httpx.get(f"{base}/api/v1/checks", headers={"Authorization": f"Bearer guess-{i}"}, timeout=10)
            assert r.status_code == 401
        clock.now = NOW + timedelta(seconds=30)
        r = httpx.get(f"{base}/api/v1/checks", headers=bearer("developer"), timeout=10)
        assert r.status_code == 429 and r.json()["error"]["type"] == "TooManyRequests"
        assert r.headers["retry-after"] == "30"  # the first failure leaves the window at NOW + 60 s
        clock.now = NOW + timedelta(seconds=61)
        assert httpx.get(f"{base}/api/v1/checks", headers=bearer("developer"), timeout=10).status_code == 200
        outcomes = {k for e in audit_rows(base) if e["action"] == "auth.refused"
                    for k in e["detail"]["by_status"]}  # type: ignore[index]
    assert outcomes == {"401", "429"}


def test_wrong_login_tokens_are_throttled_too(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base, httpx.Client(base_url=base, timeout=10) as c:
        for _ in range(10):
            csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
            assert csrf
            assert c.post("/login", data={"token": "guess", "csrf": csrf.group(1)}).status_code == 401
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
        assert csrf
        r = c.post("/login", data={"token": TOKENS["on-call"], "csrf": csrf.group(1)})
    assert r.status_code == 429 and "retry-after" in r.headers


# -- 12: sessions, headers, /metrics -----------------------------------------------------------------


def test_a_copied_session_cookie_stops_working_after_logout(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base, httpx.Client(base_url=base, timeout=10) as c:
        login(c, "on-call")
        stolen = dict(c.cookies)
        page = c.get("/")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        assert c.post("/logout", data={"csrf": csrf.group(1)}).status_code == 303
        again = httpx.get(f"{base}/api/v1/whoami", cookies=stolen, timeout=10)
    assert again.status_code == 401


def test_removing_a_token_on_reload_ends_its_sessions_for_good(tmp_path: Path, cfg: Config, store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    holder = [cfg]
    with serve_app(create_app(serve(cfg, store, holder=holder))) as base, \
            httpx.Client(base_url=base, timeout=10) as c:
        login(c, "on-call")
        assert c.get("/api/v1/whoami").json()["name"] == "on-call"
        without = make_config(tmp_path, extra=HEARTBEATS)
        del without.model.api.tokens["on-call"]
        holder[0] = without
        assert c.get("/api/v1/whoami").status_code == 401
        holder[0] = cfg  # the same token back: the old session stays ended
        assert c.get("/api/v1/whoami").status_code == 401


def test_every_response_carries_csp_frame_referrer_and_nosniff_headers(cfg: Config, store: Store) -> None:
    with serve_app(create_app(serve(cfg, store))) as base, httpx.Client(base_url=base, timeout=10) as c:
        login(c, "on-call")
        responses = [c.get(p) for p in ("/", "/checks/api-health", "/alerts", "/login", "/status", "/metrics",
                                        "/api/v1/checks", "/static/style.css", "/static/htmx.min.js", "/nope")]
        responses.append(c.post("/api/v1/silences", content=b" " * (2 * 1024 * 1024)))
    for r in responses:
        assert "script-src 'self'" in r.headers["content-security-policy"], r.url
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in responses][-2:] == [404, 413]


def test_a_crash_answers_500_with_the_security_headers_too(cfg: Config, store: Store) -> None:
    """Starlette sends a crash's 500 from its outermost middleware, past SecurityHeaders."""
    from starlette.routing import Route

    def boom(request: object) -> None:
        raise RuntimeError("a bug")

    app = create_app(serve(cfg, store))
    app.router.routes.insert(0, Route("/boom", boom))
    with serve_app(app) as base:
        r = httpx.get(f"{base}/boom", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 500 and r.json()["error"]["message"] == "internal error"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


def test_metrics_are_public_on_loopback_and_need_a_token_elsewhere_unless_made_public(cfg: Config,
                                                                                     store: Store) -> None:
    with serve_app(create_app(serve(cfg, store, host="0.0.0.0"))) as base:
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{base}/metrics", headers=bearer("developer"), timeout=10).status_code == 200
    with serve_app(create_app(serve(cfg, store, host="127.0.0.1"))) as base:
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200
    cfg.model.api.metrics_public = True
    with serve_app(create_app(serve(cfg, store, host="0.0.0.0"))) as base:
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200


def test_serves_start_up_line_says_who_can_read_metrics() -> None:
    assert metrics_note(Api(), "127.0.0.1") == "/metrics public: 127.0.0.1 is loopback"
    assert metrics_note(Api(), "0.0.0.0").startswith("/metrics needs a viewer token: 0.0.0.0 is not loopback")
    assert metrics_note(Api(metrics_public=True), "::") == "/metrics public: api.metrics_public: true"
    assert metrics_note(Api(metrics_public=False), "::1").endswith("api.metrics_public: false")
