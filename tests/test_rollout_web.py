"""Canary rollouts on the surfaces: GET /api/v1/rollouts and /api/v1/rollouts/{id} (viewer, in the
OpenAPI document), the /rollouts and /rollouts/{id} pages and the Markdown record, on both store
dialects. Rollouts are made through store/rollouts.py, as ``opsbook gate canary`` makes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opsbook.config.secrets import redactor
from opsbook.ops import rollouts as ops_rollouts
from opsbook.store import Store, rollouts
from opsbook.web.app import create_app
from tests.support.webutil import NOW, bearer, context, make_config, set_tokens

PASSWORD = "hunter2-rollout-pw-7c1"  # distinctive: it must appear nowhere
HTML = {"accept": "text/html"}


@pytest.fixture
def client(tmp_path: Path, any_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    set_tokens(monkeypatch)
    with TestClient(create_app(context(make_config(tmp_path), any_store))) as c:
        yield c


def make(store: Store, canary: str = "api", status: str | None = "rolled_back", *, url: str = "http://canary:8080",
         message: str = "errors above 0.05", output: str = "done", minutes: int = 0) -> int:
    at = NOW - timedelta(minutes=30 - minutes)
    with store.transaction() as tx:
        row = rollouts.start(tx, canary, url, "http://baseline:8080", "production", at)
        rollouts.add_event(tx, row.id, at, "step", "step 1: weight 10%", None, {"step": 1, "weight": 10})
        for target in ("canary", "baseline"):
            rollouts.add_measurement(tx, row.id, 1, "errors", target, at, "failed" if target == "canary" else
                                     "successful", 0.2, [0.1, 0.2, 0.3], message)
        rollouts.add_measurement(tx, row.id, 1, "latency_p99", "canary", at, "successful", 120.0, [100.0, 140.0],
                                 "ok")
        rollouts.add_event(tx, row.id, at, "decision", "step 1: rollback: errors failed", None,
                           {"step": 1, "decision": "rollback"})
        rollouts.add_event(tx, row.id, at, "rollback", "rollback: `./rollback.sh` exited 1", 1, {"output": output})
        if status is not None:
            rollouts.finish(tx, row.id, status, "errors failed on the canary", 0.4, at + timedelta(minutes=5), {})
    return row.id


def test_a_viewer_lists_rollouts_newest_first_and_filters_by_canary(client: TestClient, any_store: Store) -> None:
    first = make(any_store, "api", "promoted")
    second = make(any_store, "web", None, minutes=10)
    got = client.get("/api/v1/rollouts", headers=bearer("developer"))
    assert got.status_code == 200 and got.json()["schema"] == "opsbook.api.rollouts/1"
    items = got.json()["rollouts"]
    assert [r["id"] for r in items] == [second, first]
    assert items[1]["status"] == "promoted" and items[1]["score"] == 0.4 and items[1]["env"] == "production"
    assert items[0]["status"] == "running" and items[0]["finished_at"] is None
    only = client.get("/api/v1/rollouts?canary=api&limit=5", headers=bearer("developer")).json()["rollouts"]
    assert [r["canary"] for r in only] == ["api"]
    assert client.get("/api/v1/rollouts?limit=0", headers=bearer("developer")).status_code == 400
    assert client.get("/api/v1/rollouts").status_code == 401


def test_a_viewer_reads_a_rollouts_record_with_its_measurements_and_events(client: TestClient,
                                                                           any_store: Store) -> None:
    rid = make(any_store)
    doc = client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).json()
    assert doc["schema"] == "opsbook.api.rollout/1" and doc["rollout"]["status"] == "rolled_back"
    assert [(m["metric"], m["target"], m["outcome"]) for m in doc["measurements"]] == [
        ("errors", "canary", "failed"), ("errors", "baseline", "successful"), ("latency_p99", "canary", "successful")]
    assert doc["measurements"][0]["median"] == 0.2 and doc["measurements_omitted"] == 0
    assert [e["kind"] for e in doc["events"]] == ["step", "decision", "rollback"]
    assert doc["events"][2]["exit_code"] == 1 and doc["events"][2]["output"] == "done"
    assert doc["events"][1]["decision"] == "rollback"


def test_an_unknown_rollout_is_a_404_on_the_api_and_the_page(client: TestClient, any_store: Store) -> None:
    assert client.get("/api/v1/rollouts/999", headers=bearer("developer")).status_code == 404
    assert client.get("/api/v1/rollouts/abc", headers=bearer("developer")).status_code == 404
    assert client.get("/rollouts/999", headers={**bearer("developer"), **HTML}).status_code == 404
    assert client.get("/rollouts/999.md", headers=bearer("developer")).status_code == 404


def test_a_long_rollouts_record_keeps_the_newest_measurements_and_a_long_output_its_tail(
        client: TestClient, any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_rollouts, "MEASUREMENTS", 2)
    rid = make(any_store, output="x" * 5000 + "THE-END")
    doc = client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).json()
    assert [m["metric"] for m in doc["measurements"]] == ["errors", "latency_p99"]  # the newest two, in order
    assert doc["measurements_omitted"] == 1
    out = doc["events"][2]
    assert out["output_truncated"] is True and out["output"].endswith("THE-END")
    assert len(out["output"]) == ops_rollouts.OUTPUT


def test_the_pages_show_the_decision_measurements_per_metric_and_the_events(client: TestClient,
                                                                           any_store: Store) -> None:
    rid = make(any_store)
    listing = client.get("/rollouts", headers={**bearer("developer"), **HTML})
    assert listing.status_code == 200 and f'href="/rollouts/{rid}"' in listing.text
    assert 'class="badge fail">rolled back<' in listing.text
    page = client.get(f"/rollouts/{rid}", headers={**bearer("developer"), **HTML}).text
    assert page.index("errors failed on the canary") < page.index("<h2>Measurements</h2>")
    assert 'data-metric="errors"' in page and 'data-metric="latency_p99"' in page
    assert "rollback: `./rollback.sh` exited 1" in page and 'class="badge fail">1<' in page
    assert f'href="/rollouts/{rid}.md"' in page
    md = client.get(f"/rollouts/{rid}.md", headers=bearer("developer"))
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Canary api: rolled_back") and "## Events" in md.text
    assert client.get("/rollouts", headers=HTML, follow_redirects=False).status_code in (302, 303)
    assert 'href="/rollouts"' in client.get("/releases", headers={**bearer("developer"), **HTML}).text


def test_a_script_in_a_measurement_or_an_event_is_escaped(client: TestClient, any_store: Store) -> None:
    rid = make(any_store, "<script>alert(1)</script>", message="<script>alert(2)</script>",
               output="<script>alert(3)</script>")
    for path in ("/rollouts", f"/rollouts/{rid}"):
        html = client.get(path, headers={**bearer("developer"), **HTML}).text
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    page = client.get(f"/rollouts/{rid}", headers={**bearer("developer"), **HTML}).text
    assert "&lt;script&gt;alert(2)" in page and "&lt;script&gt;alert(3)" in page


def test_a_url_with_a_password_is_shown_without_it(client: TestClient, any_store: Store) -> None:
    rid = make(any_store, url=f"https://deploy:{PASSWORD}@canary.example:8443/metrics?token={PASSWORD}x")
    seen = [client.get("/api/v1/rollouts", headers=bearer("developer")).text,
            client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).text,
            client.get("/rollouts", headers={**bearer("developer"), **HTML}).text,
            client.get(f"/rollouts/{rid}", headers={**bearer("developer"), **HTML}).text,
            client.get(f"/rollouts/{rid}.md", headers=bearer("developer")).text]
    for text in seen:
        assert PASSWORD not in text and "deploy:" not in text and "canary.example:8443/metrics" in text
    assert client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).json()["rollout"]["canary_url"] \
        .startswith("https://canary.example:8443/metrics?token=")


def test_a_secret_value_in_a_commands_output_or_a_message_is_redacted(client: TestClient, any_store: Store) -> None:
    secret = "rollout-secret-5e9d1b-value"
    redactor.add(secret)  # as config load registers a resolved {env: ...} value
    rid = make(any_store, message=f"provider said {secret}", output=f"curl -H 'Authorization: {secret}' failed")
    seen = [client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).text,
            client.get(f"/rollouts/{rid}", headers={**bearer("developer"), **HTML}).text,
            client.get(f"/rollouts/{rid}.md", headers=bearer("developer")).text]
    for text in seen:
        assert secret not in text
    assert "provider said ***" in seen[0]


def test_the_rollout_routes_are_in_the_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]["/api/v1/rollouts"]) == {"get"}
    assert set(doc["paths"]["/api/v1/rollouts/{id}"]) == {"get"}
    assert {p["name"] for p in doc["paths"]["/api/v1/rollouts"]["get"]["parameters"]} == {"canary", "limit"}


@pytest.mark.parametrize(("given", "shown"), [
    ("canary-v2", "canary-v2"),  # a label, not a URL
    ("http://canary:8080/metrics", "http://canary:8080/metrics"),
    ("https://u:pw-9f2a@canary:8443/m", "https://canary:8443/m"),
    ("https://only-user@canary/m", "https://canary/m"),
])
def test_a_rollouts_url_is_shown_without_its_user_and_password(given: str, shown: str) -> None:
    assert ops_rollouts.safe_url(given) == shown


def test_the_cli_lists_and_shows_past_rollouts_like_the_api_without_credentials(
        client: TestClient, any_store: Store, tmp_path: Path) -> None:
    from tests.support.clirun import opsbook

    first = make(any_store, "api", "promoted")
    rid = make(any_store, "web", url=f"https://deploy:{PASSWORD}@canary.example:8443/", minutes=10)
    cfg = tmp_path / "cli.yaml"
    cfg.write_text("project: shop\n")  # the records are in the store: the config only names it

    def cli(*args: str) -> Any:
        return opsbook("release", *args, "-c", str(cfg), "--store", any_store.url)

    listed = cli("rollouts", "--json")
    assert listed.code == 0, listed.text
    assert listed.json == client.get("/api/v1/rollouts", headers=bearer("developer")).json()
    table = cli("rollouts", "--canary", "api")
    assert table.code == 0 and f"#{first}" in table.stdout and f"#{rid}" not in table.stdout
    assert "promoted" in table.stdout
    shown = cli("rollout", str(rid), "--json")
    assert shown.json == client.get(f"/api/v1/rollouts/{rid}", headers=bearer("developer")).json()
    md = cli("rollout", str(rid), "--md")
    assert md.code == 0 and md.stdout == client.get(f"/rollouts/{rid}.md", headers=bearer("developer")).text
    text = cli("rollout", str(rid))
    assert "rolled_back" in text.stdout and "rollback (exit 1)" in text.stdout
    for r in (listed, table, shown, md, text):
        assert PASSWORD not in r.text and "deploy:" not in r.text
    missing = cli("rollout", "999999")
    assert missing.code == 2 and "no rollout #999999" in missing.stderr and "opsbook release rollouts" in missing.stderr
