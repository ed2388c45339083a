"""The dashboard (login, CSRF, pages), the public status page and /metrics."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opsbook.store import Store
from opsbook.web.app import create_app
from opsbook.web.auth import SESSION_COOKIE
from tests.support.helpers import load
from tests.support.webutil import TOKENS, bearer, context, make_config, seeded_store, set_tokens

__all__ = ["seeded_store"]  # the `store` fixture


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    set_tokens(monkeypatch)

    async def run_now(kind: str, name: str) -> dict[str, Any]:
        return {"ok": True}

    with TestClient(create_app(context(make_config(tmp_path), store, run_now=run_now)),
                    headers={"accept": "text/html"}) as c:
        yield c


def login(c: TestClient, who: str) -> None:
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = c.post("/login", data={"token": TOKENS[who], "csrf": csrf.group(1), "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_dashboard_without_login_redirects_to_the_login_page(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_login_sets_an_httponly_samesite_session_cookie(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post("/login", data={"token": TOKENS["developer"], "csrf": form_csrf(page.text)},
                    follow_redirects=False)
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert TOKENS["developer"] not in cookie


def test_a_wrong_token_does_not_log_in(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post("/login", data={"token": "guess", "csrf": form_csrf(page.text)})
    assert r.status_code == 401 and "unknown token" in r.text


def test_overview_shows_every_check_by_env_with_status_since_and_uptime_bars(client: TestClient) -> None:
    login(client, "developer")
    html = client.get("/").text
    assert "api-health" in html and "db-port" in html
    assert 'class="badge fail"' in html and "ago" in html
    rows = dict(re.findall(r'<tr data-status="(\w+)"><td><a href="/checks/([\w-]+)\?env=">', html))
    assert rows == {"fail": "api-health", "pass": "db-port"}
    assert html.count('<td class="u">') == 6  # 2 checks x 24h/7d/30d: a bar and the percentage as text
    assert html.count("83.3%</td>") == 3  # api-health failed the last 5 of its 30 minutes
    assert "Run now" not in html


def test_the_overview_refreshes_itself_with_vendored_htmx_and_works_without_it(client: TestClient) -> None:
    login(client, "developer")
    html = client.get("/").text
    assert '<script src="/static/htmx.min.js" defer></script>' in html
    assert 'id="checks" hx-get="/"' in html and 'hx-trigger="every 15s"' in html
    script = client.get("/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:200]  # served locally, never from a CDN


def test_overview_can_show_only_the_failing_checks(client: TestClient) -> None:
    login(client, "developer")
    html = client.get("/?status=failing").text
    assert "api-health" in html and "db-port" not in html and '<a href="/">show all</a>' in html


def test_big_pages_are_gzipped_once_and_the_per_user_shell_is_never_compressed(client: TestClient) -> None:
    """The cached body is compressed once; the shell around it (name, CSRF token) goes in stored
    blocks, so the token is never compressed together with other content (BREACH)."""
    login(client, "developer")
    plain = client.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", "/", headers={"accept-encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert gzip.decompress(raw) == plain.content
    token = form_csrf(plain.text)
    assert token.encode() in raw  # stored as is, not compressed
    for path, headers in (("/status", {}), ("/api/v1/checks", bearer("developer"))):
        with client.stream("GET", path, headers={**headers, "accept-encoding": "gzip;q=1"}) as r:
            assert r.headers["content-encoding"] == "gzip"
            raw = b"".join(r.iter_raw())
        plain = client.get(path, headers={**headers, "accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in plain.headers and gzip.decompress(raw) == plain.content


def test_pages_read_while_another_thread_holds_the_stores_write_lock(client: TestClient, store: Store) -> None:
    """Page reads run in worker threads, each with its own SQLite connection and a read-only
    transaction: a writer elsewhere in the process (the scheduler, a "Run now") does not block
    them or interleave with them."""
    login(client, "developer")
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.db.transaction() as tx:
            tx.execute("UPDATE check_state SET status = status")
            held.set()
            release.wait(60)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(60)
        client.app.state.web.cache_ttl = 0  # type: ignore[attr-defined]
        assert client.get("/").status_code == 200
        assert client.get("/status").status_code == 200
        assert client.get("/api/v1/checks", headers=bearer("developer")).json()["checks"]
        assert client.get("/checks/api-health").status_code == 200
        assert not release.is_set()  # all of that while the write transaction was open
    finally:
        release.set()
        t.join()


def test_check_page_shows_latency_chart_history_and_the_last_failures_evidence(client: TestClient) -> None:
    login(client, "developer")
    html = client.get("/checks/api-health").text
    assert '<svg class="chart"' in html and "<polyline" in html
    assert "status == 200" in html and "== 200" in html and ">500<" in html
    assert "db down" in html  # the response excerpt
    assert html.count('class="badge fail"') > 5  # history rows


def test_a_viewer_sees_no_operator_buttons_and_cannot_post_them(client: TestClient) -> None:
    login(client, "developer")
    html = client.get("/checks/api-health").text
    assert "Run now" not in html
    r = client.post("/checks/api-health/run", data={"csrf": form_csrf(html)}, follow_redirects=False)
    assert "error=" in r.headers["location"]


def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    login(client, "on-call")
    r = client.post("/checks/api-health/run", data={}, follow_redirects=False)
    assert r.status_code == 303 and "CSRF" in r.headers["location"]
    html = client.get("/checks/api-health").text
    assert "Run now" in html
    r = client.post("/checks/api-health/run", data={"csrf": form_csrf(html)}, follow_redirects=False)
    assert r.headers["location"].endswith("done=check.run")


def test_a_session_cookie_api_write_needs_the_csrf_header(client: TestClient) -> None:
    login(client, "on-call")
    r = client.post("/api/v1/checks/api-health/run")
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]


def test_audit_page_is_for_admins(client: TestClient) -> None:
    login(client, "on-call")
    assert client.get("/audit").status_code == 403
    client.cookies.clear()
    login(client, "admin")
    html = client.get("/audit").text
    assert "login" in html and "on-call" in html


def test_status_page_is_public_and_shows_components_and_notices(client: TestClient) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert "Shop status" in r.text and "Storefront" in r.text and "Database" in r.text
    assert "Payments provider slow" in r.text
    assert r.text.count('<svg class="strip"') == 2
    doc = client.get("/status?format=json").json()
    states = {c["name"]: c["state"] for c in doc["components"]}
    assert states == {"Storefront": "outage", "Database": "operational"} and doc["overall"] == "outage"
    assert len(doc["components"][0]["days"]) == 90


def test_status_page_shows_no_hostnames_check_names_errors_or_links_inside(client: TestClient) -> None:
    for text in (client.get("/status").text, client.get("/status?format=json").text):
        for internal in ("10.1.2.3", "127.0.0.1", "api-health", "db-port", "GET -> 500", "db down", "/login",
                         "href=\"/checks"):
            assert internal not in text


def test_metrics_use_blackbox_names_and_carry_no_secrets(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert 'probe_success{check="api-health",env="",kind="http"} 0' in text
    assert 'probe_success{check="db-port",env="",kind="tcp"} 1' in text
    assert re.search(r'probe_duration_seconds\{check="api-health",env="",kind="http",phase="connect"\} 0.001', text)
    assert 'opsbook_check_status{check="api-health",env="",status="fail"} 1' in text
    for value in TOKENS.values():
        assert value not in text


def test_metric_timestamps_keep_their_precision(tmp_path: Path) -> None:
    from opsbook.web import metrics

    cfg = load("""
        resources: {db: {kind: sqlite, path: x.db}}
        backups: {nightly: {source: db, to: ./b}}
        """, tmp_path)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        at = datetime(2026, 11, 23, 12, 34, 56, 789000, tzinfo=UTC)
        store.record_run("backup", "nightly", ok=True, status="pass", started_at=at, finished_at=at,
                         detail={"size": 123456789})
        text = metrics.exposition(cfg, store, at)
    assert f'opsbook_backup_last_success_timestamp_seconds{{backup="nightly"}} {at.timestamp():.3f}' in text
    assert 'opsbook_backup_last_size_bytes{backup="nightly"} 123456789' in text


def test_metrics_can_require_a_token(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    cfg = make_config(tmp_path)
    cfg.model.api.metrics_public = False
    with TestClient(create_app(context(cfg, store))) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": f"Bearer {TOKENS['developer']}"}).status_code == 200


def test_anonymous_viewer_reads_the_dashboard_without_login(tmp_path: Path, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    cfg = make_config(tmp_path)
    cfg.model.api.anonymous = "viewer"
    with TestClient(create_app(context(cfg, store)), headers={"accept": "text/html"}) as c:
        assert "api-health" in c.get("/").text
        assert c.post("/api/v1/checks/api-health/run").status_code == 403


def test_other_pages_render_for_a_viewer(client: TestClient) -> None:
    login(client, "developer")
    for path in ("/backups", "/drills", "/slos", "/alerts"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    assert client.get("/nope").status_code == 404
