"""Releases on the surfaces: the API (viewer reads, operator records and rolls back, audited, in
the OpenAPI document), the /releases page with rollbacks marked, release markers on the check
page's chart, and releases on an incident's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsbook.ops import incident, release, timeline
from opsbook.store import Store
from opsbook.store import releases as rows
from opsbook.web import charts
from opsbook.web.app import create_app
from tests.support.webutil import NOW, bearer, context, make_config, seeded_store, set_tokens

__all__ = ["seeded_store"]  # the `store` fixture

EXTRA = """
releases:
  services:
    api: {rollback: {command: "true"}}
    web: {}
"""


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    set_tokens(monkeypatch)
    with TestClient(create_app(context(make_config(tmp_path, extra=EXTRA), store))) as c:
        yield c


def test_a_viewer_lists_releases_but_cannot_record_and_an_operator_records_idempotently(client: TestClient) -> None:
    body = {"service": "api", "version": "v1.4.2", "env": "production", "commit": "abc"}
    refused = client.post("/api/v1/releases", json=body, headers=bearer("developer"))
    assert refused.status_code == 403
    made = client.post("/api/v1/releases", json=body, headers=bearer("on-call"))
    assert made.status_code == 201 and made.json()["release"]["by"] == "on-call"
    again = client.post("/api/v1/releases", json=body, headers=bearer("on-call"))
    assert again.status_code == 200 and again.json()["created"] is False
    clash = client.post("/api/v1/releases", json={**body, "commit": "zzz"}, headers=bearer("on-call"))
    assert clash.status_code == 400 and "commit" in clash.json()["error"]["message"]
    listed = client.get("/api/v1/releases?service=api", headers=bearer("developer"))
    assert [r["version"] for r in listed.json()["releases"]] == ["v1.4.2"]
    assert client.get("/api/v1/releases").status_code == 401
    audit = client.get("/api/v1/audit", headers=bearer("admin")).json()
    actions = [(e["action"], e["actor"], e["outcome"]) for e in audit["entries"]]
    assert ("release.record", "on-call", "ok") in actions
    assert any(a == "release.record" and p == "developer" and o != "ok" for a, p, o in actions)


def test_an_operator_rolls_back_over_the_api_and_a_viewer_cannot(client: TestClient, store: Store) -> None:
    for v in ("v1", "v2"):
        client.post("/api/v1/releases", json={"service": "api", "version": v, "env": "production"},
                    headers=bearer("on-call"))
    assert client.post("/api/v1/releases/api/rollback", json={"env": "production"},
                       headers=bearer("developer")).status_code == 403
    r = client.post("/api/v1/releases/api/rollback", json={"env": "production"}, headers=bearer("on-call"))
    assert r.status_code == 200 and r.json()["ok"] is True and (r.json()["from"], r.json()["to"]) == ("v2", "v1")
    assert release.current(store, "api", "production").version == "v1"  # type: ignore[union-attr]
    none = client.post("/api/v1/releases/web/rollback", json={"env": "production"}, headers=bearer("on-call"))
    assert none.status_code == 400 and "no rollback configured" in none.json()["error"]["message"]


def test_the_release_routes_are_in_the_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]["/api/v1/releases"]) == {"get", "post"}
    assert "post" in doc["paths"]["/api/v1/releases/{service}/rollback"]
    assert "RecordIn" in doc["components"]["schemas"] and "RollbackIn" in doc["components"]["schemas"]


def test_the_releases_page_groups_by_service_and_env_newest_first_with_rollbacks_marked(
        client: TestClient, store: Store, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, extra=EXTRA)
    for i, v in enumerate(("v1", "v2")):
        release.record(store, cfg, service="api", version=v, env="production", by="ci",
                       now=NOW - timedelta(hours=3 - i))
    release.record(store, cfg, service="web", version="w1", env="staging", by="ci", now=NOW - timedelta(hours=1))
    with store.transaction() as tx:
        v2 = rows.get(tx, "api", "v2", "production")
        assert v2 is not None
        rows.move(tx, v2.id, "deployed", "rolled_back", NOW)
        rows.add_event(tx, release_id=v2.id, service="api", env="production", at=NOW, kind="rollback_finished",
                       actor="ana", detail={"from": "v2", "to": "v1", "outcome": "verification_failed"})
    html = client.get("/releases", headers={**bearer("developer"), "accept": "text/html"}).text
    assert 'data-service="api" data-env="production"' in html and 'data-service="web" data-env="staging"' in html
    api = html.split('data-service="api"')[1].split("</table>")[0]
    assert api.index(">v2<") < api.index(">v1<")  # newest first
    assert "rolled back" in api and "v2 &rarr; v1: verification_failed" in api
    assert client.get("/releases", headers={"accept": "text/html"}, follow_redirects=False).status_code in (302, 303)


def test_the_check_page_chart_marks_the_releases_of_its_span(client: TestClient, store: Store,
                                                             tmp_path: Path) -> None:
    cfg = make_config(tmp_path, extra=EXTRA)
    release.record(store, cfg, service="api", version="v7", env="production", by="ci", now=NOW - timedelta(minutes=10))
    html = client.get("/checks/api-health", headers={**bearer("developer"), "accept": "text/html"}).text
    assert 'class="marker"' in html and "api v7 (production)" in html


def test_a_marker_outside_the_charts_span_is_not_drawn() -> None:
    pts = [(NOW - timedelta(minutes=10), 5.0), (NOW, 7.0)]
    svg = charts.line_chart({"avg": pts}, title="t", markers=[(NOW - timedelta(minutes=5), "api v1 & <b>"),
                                                              (NOW - timedelta(days=1), "old")])
    assert svg.count('class="marker"') == 1 and "api v1 &amp; &lt;b&gt;" in svg and "old" not in svg


def test_an_incidents_timeline_shows_the_releases_and_rollbacks_of_its_window(store: Store, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, extra=EXTRA)
    inc = incident.declare(store, cfg.model.incidents, "API 5xx", "SEV2", "bob", NOW,
                           detected_at=NOW - timedelta(minutes=5))
    release.record(store, cfg, service="api", version="v1", env="production", by="ci", now=NOW - timedelta(hours=5))
    release.record(store, cfg, service="api", version="v2", env="production", by="ci",
                   now=NOW - timedelta(minutes=12))
    with store.transaction() as tx:
        rows.add_event(tx, release_id=None, service="api", env="production", at=NOW + timedelta(minutes=3),
                       kind="rollback_finished", actor="ana", detail={"from": "v2", "to": "v1", "outcome": "ok"})
    tl = timeline.for_incident(store, inc.row, NOW + timedelta(minutes=10))
    mine = [e for e in tl.entries if e.kind.startswith("release.")]
    assert [e.kind for e in mine] == ["release.deployed", "release.rollback"]  # v1 is before the window
    assert mine[0].release == {"service": "api", "version": "v2", "env": "production", "by": "ci"}
    assert mine[1].release is not None and mine[1].release["outcome"] == "ok" and mine[1].release["from"] == "v2"
    assert "rolled api back in production: v2 -> v1: ok" in mine[1].summary
    assert tl.to_dict()["entries"][[e.kind for e in tl.entries].index("release.deployed")]["release"]["version"] == "v2"
    with store.read() as tx:  # the page's "N more" counts them too
        assert timeline.count(tx, inc.row, NOW + timedelta(minutes=10)) == len(tl.entries)
