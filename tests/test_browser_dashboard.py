"""A new user's path in a real browser (Debian's Chromium, headless, via Playwright): log in, find
the failing check and its evidence, silence its alert, read the public status page. Every page
is saved as a screenshot under tests/screenshots/."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opsbook.rules.engine import current_alerts, evaluate
from opsbook.store import Store
from opsbook.web.app import create_app
from tests.support.helpers import free_port, serve_app
from tests.support.webutil import TOKENS, context, make_config, seed, set_tokens

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
ALERTS = """
alerts:
  ApiDown:
    when: check api-health failing
    annotations: {summary: the storefront API fails}
"""


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "db down"}'
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_url() -> Iterator[str]:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Failing)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_a_new_user_logs_in_finds_the_failing_check_silences_it_and_reads_the_status_page(
        tmp_path: Path, failing_url: str, browser_page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    cfg = make_config(tmp_path, api_url=failing_url, extra=ALERTS)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        seed(store, now=now)
        # the real check against the failing server: its result is what the page must show
        from concurrent.futures import ThreadPoolExecutor

        from tests.support.helpers import run

        with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
            result = pool.submit(run, cfg, "api-health").result()["api-health"]
        assert result.status == "fail"
        store.record_results([result])
        alert_rows = _fire_alert(cfg, store, now)
        app = create_app(context(cfg, store, now=now))
        page = browser_page
        # the pages' Content-Security-Policy must allow what they use (htmx, inline SVG, styles)
        csp_violations: list[str] = []
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        with serve_app(app) as base:
            page.goto(base + "/")
            assert "/login" in page.url
            shot(page, "01-login")
            page.fill("#token", TOKENS["on-call"])
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            row = page.locator("tr[data-status=fail]", has_text="api-health")
            assert row.count() == 1
            shot(page, "02-overview")

            row.locator("a", has_text="api-health").click()
            page.wait_for_selector("#evidence")
            evidence = page.locator("table.evidence").inner_text()
            assert "status == 200" in evidence and "500" in evidence
            assert "db down" in page.locator("pre.excerpt").inner_text()
            assert page.locator("svg.chart polyline").count() >= 1
            shot(page, "03-check-evidence")

            page.goto(base + "/alerts")
            assert alert_rows, "the ApiDown rule did not fire"
            form = page.locator("form.silence-form").first
            form.locator("input[name=comment]").fill("deploying a fix")
            form.locator("button").click()
            page.wait_for_url("**/alerts?done=silence.add")
            assert "alertname=ApiDown" in page.locator("table.silences").inner_text()
            shot(page, "04-alerts-silenced")

            page.goto(base + "/status")
            assert page.locator(".component").count() == 2
            text = page.locator("main").inner_text()
            assert "Storefront" in text and "127.0.0.1" not in text and "api-health" not in text
            shot(page, "05-status")
            assert page.evaluate("typeof htmx") == "object"
            assert csp_violations == []
    finally:
        store.close()


def _fire_alert(cfg: Any, store: Store, now: datetime) -> bool:
    """Evaluate the config's alert rules with the rules engine; True when one fires."""
    evaluate(cfg, store, now)
    return any(a.state == "firing" for a in current_alerts(store))


def test_an_operator_acknowledges_assigns_resolves_and_closes_an_incident_from_its_page(
        tmp_path: Path, browser_page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsbook.ops import incident

    set_tokens(monkeypatch)
    cfg = make_config(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        seed(store, now=now)
        iid = incident.declare(store, cfg.model.incidents, "Checkout returns 502", "SEV3", "ana", now).id
        page = browser_page
        csp_violations: list[str] = []
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        with serve_app(create_app(context(cfg, store, now=now))) as base:
            page.goto(base + "/login")
            page.fill("#token", TOKENS["on-call"])
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            page.locator("section.open-incidents a", has_text="Checkout returns 502").click()
            page.wait_for_url(f"**/incidents/{iid}")
            assert "incident.declared" in page.locator("table.timeline").inner_text()
            page.locator("button", has_text="Acknowledge").click()
            page.wait_for_url(f"**/incidents/{iid}?done=incident.ack")
            shot(page, "06-incident-acknowledged")
            page.select_option("form.assign select[name=role]", "commander")
            page.fill("form.assign input[name=person]", "carol")
            page.locator("form.assign button").click()
            page.wait_for_url(f"**/incidents/{iid}?done=incident.assign")
            assert "commander=carol" in page.locator("table.record").inner_text()
            page.locator("button", has_text="Resolve").click()
            page.wait_for_url(f"**/incidents/{iid}?done=incident.resolve")
            assert page.locator("[data-status]").first.inner_text() == "resolved"
            shot(page, "07-incident-resolved")
            page.locator("button", has_text="Close").click()
            page.wait_for_url(f"**/incidents/{iid}?done=incident.close")
            assert page.locator("[data-status]").first.inner_text() == "closed"
            assert "incident.assign" in page.locator("table.timeline").inner_text()
            shot(page, "08-incident-closed")
            assert csp_violations == []
        inc = incident.show(store, iid)
        assert inc.status == "closed" and inc.row.commander == "carol"
    finally:
        store.close()
