"""An alert's ``runbook:`` annotation naming a runbook: checked when the config loads, and shown
in notifications and on the dashboard's alerts page with the commands that run it."""

from __future__ import annotations

from pathlib import Path

from opsbook.config.runbooks import runbook_ref
from opsbook.notify.render import body_text
from tests.support.clirun import opsbook


def payload(annotation: str, external_url: str | None = None) -> dict[str, object]:
    return {"kind": "firing", "external_url": external_url, "group_labels": {"alertname": "api-not-ready"},
            "alerts": [{"state": "firing", "labels": {"alertname": "api-not-ready"},
                        "annotations": {"summary": "the API is not ready", "runbook": annotation}}]}


def test_an_alert_s_runbook_annotation_appears_in_the_notification_with_the_commands() -> None:
    text = body_text(payload("restart-with-readiness", "https://ops.example.com/"))
    assert "  runbook: restart-with-readiness (https://ops.example.com/runbooks/restart-with-readiness)" in text
    assert "    run: opsbook runbook run restart-with-readiness" in text
    assert "    dry-run: opsbook runbook run restart-with-readiness --dry-run" in text
    assert "opsbook runbook run" in body_text(payload("restart-with-readiness"))  # no dashboard: no link, commands


def test_a_runbook_annotation_holding_a_url_or_a_sentence_is_shown_as_written() -> None:
    for text in ("https://wiki.example.com/RB-12", "restart the api, then check /readyz", "runbook.html"):
        assert runbook_ref(text) is None
        body = body_text(payload(text))
        assert f"  runbook: {text}" in body and "opsbook runbook run" not in body


def _project(tmp_path: Path, annotation: str) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "restart-with-readiness.md").write_text("# Restart\n\n```sh {name=a}\ntrue\n```\n")
    (tmp_path / "opsbook.yaml").write_text(
        "version: 1\nchecks:\n  up: {command: {run: 'true'}}\nalerts:\n"
        f"  down: {{when: check up failing, annotations: {{runbook: {annotation}}}}}\n")


def test_an_unknown_runbook_in_an_annotation_is_exit_2_with_did_you_mean(tmp_path: Path) -> None:
    _project(tmp_path, "restart-with-readyness")
    r = opsbook("config", "validate", cwd=tmp_path)
    assert r.code == 2, r.text
    assert "alerts.down.annotations.runbook" in r.text
    assert "no runbook named 'restart-with-readyness' (did you mean 'restart-with-readiness'?)" in r.text


def test_a_known_runbook_in_an_annotation_loads(tmp_path: Path) -> None:
    _project(tmp_path, "restart-with-readiness")
    r = opsbook("config", "validate", cwd=tmp_path)
    assert r.code == 0, r.text


def test_annotations_are_not_checked_when_there_are_no_runbook_files(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(
        "version: 1\nchecks:\n  up: {command: {run: 'true'}}\nalerts:\n"
        "  down: {when: check up failing, annotations: {runbook: see-the-wiki}}\n")
    assert opsbook("config", "validate", cwd=tmp_path).code == 0


def test_the_dashboard_s_alerts_page_links_the_runbook_and_prints_its_commands(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from starlette.testclient import TestClient

    from opsbook.rules import engine
    from opsbook.store import Store
    from opsbook.web.app import create_app
    from tests.support.helpers import load, run
    from tests.support.webutil import context

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "fix-it.md").write_text("# Fix\n\n```sh {name=a}\ntrue\n```\n")
    cfg = load("checks:\n  up: {command: {run: 'false'}}\napi: {anonymous: viewer}\nalerts:\n"
               "  down: {when: check up failing, annotations: {runbook: fix-it}}\n"
               "  other: {when: check up failing, annotations: {runbook: 'https://wiki.example.com/x'}}\n", tmp_path)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.record_results(list(run(cfg, "up").values()))
        now = datetime.now(UTC)  # after the result: the engine reads results up to now
        ev = engine.evaluate(cfg, store, now)
        assert len(ev.alerts) == 2
        with TestClient(create_app(context(cfg, store, now)), headers={"accept": "text/html"}) as c:
            html = c.get("/alerts").text
    assert '<a href="/runbooks/fix-it">fix-it</a>' in html
    assert "<code>opsbook runbook run fix-it</code>" in html
    assert "<code>opsbook runbook run fix-it --dry-run</code>" in html
    assert '<a href="https://wiki.example.com/x" rel="noopener">' in html
