"""Public incident updates and status page notices: what `incident update --public` and `status
notice` write, and what /status shows of them (and nothing internal), on both store dialects with
an injected clock; the real web app; the CLI's JSON and exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsbook.config.load import Config
from opsbook.errors import UsageError
from opsbook.ops import incident, incident_update, status_notice
from opsbook.store import Store
from opsbook.store import incidents as rows
from opsbook.web import status
from opsbook.web.app import create_app
from tests.support.clirun import opsbook
from tests.support.webutil import NOW, bearer, context, make_config, seed, set_tokens

T0 = NOW - timedelta(hours=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def declare(store: Store, cfg: Config, title: str = "db-port replica lag, ask ana", when: float = 0) -> int:
    return incident.declare(store, cfg.model.incidents, title, "SEV2", "ana", at(when)).id


def test_a_public_update_is_a_row_and_an_update_event_on_the_incident(any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    done = incident_update.publish(any_store, cfg, iid, "Checkout is failing for some users", "investigating",
                                   "ana", at(5), components=["Storefront=outage"])
    assert (done.update.kind, done.update.status, done.update.components) == (
        "incident", "investigating", {"Storefront": "outage"})
    ev = done.incident.events[-1]
    assert (ev.kind, ev.actor, ev.at) == ("update", "ana", at(5))
    assert ev.detail == {"public": True, "status": "investigating", "message": "Checkout is failing for some users",
                         "components": {"Storefront": "outage"}, "update_id": done.update.id}
    assert done.incident.row.version == 2


def test_an_unknown_component_or_status_is_a_usage_error_with_a_did_you_mean(any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with pytest.raises(UsageError) as e:
        incident_update.publish(any_store, cfg, iid, "x", "investigating", "ana", at(1), components=["Storefrnt"])
    assert "did you mean 'Storefront'" in e.value.message and "status_page.components" in e.value.hint
    with pytest.raises(UsageError, match="degraded or outage"):
        incident_update.publish(any_store, cfg, iid, "x", "investigating", "ana", at(1),
                                components=["Storefront=down"])
    with pytest.raises(UsageError, match="no public status 'fixed'"):
        incident_update.publish(any_store, cfg, iid, "x", "fixed", "ana", at(1))
    with pytest.raises(UsageError, match="no incident 99"):
        incident_update.publish(any_store, cfg, 99, "x", "investigating", "ana", at(1))
    assert [e.kind for e in incident.show(any_store, iid).events] == ["declared"]  # nothing written


def test_an_open_public_incident_overrides_its_components_until_it_is_resolved(any_store: Store,
                                                                              cfg: Config) -> None:
    seed(any_store)  # Storefront failing (outage), Database passing
    iid = declare(any_store, cfg)
    incident_update.publish(any_store, cfg, iid, "Database slow", "investigating", "ana", at(5),
                            components=["Database=degraded", "Storefront=degraded"])
    incident_update.publish(any_store, cfg, iid, "Cause found, fixing", "identified", "bob", at(20))
    doc = status.build(cfg, any_store, NOW)
    states = {c["name"]: (c["state"], c["reported"]) for c in doc["components"]}
    assert states == {"Storefront": ("degraded", True), "Database": ("degraded", True)}
    assert doc["overall"] == "degraded" and doc["history"] == []
    [pub] = doc["incidents"]
    assert (pub["status"], pub["message"]) == ("identified", "Cause found, fixing")
    assert pub["components"] == {"Database": "degraded", "Storefront": "degraded"}  # carried from the last naming
    assert [u["status"] for u in pub["updates"]] == ["identified", "investigating"]

    incident_update.publish(any_store, cfg, iid, "All clear", "resolved", "bob", at(40))
    doc = status.build(cfg, any_store, NOW)
    assert doc["incidents"] == [] and {c["name"]: c["state"] for c in doc["components"]} == {
        "Storefront": "outage", "Database": "operational"}
    [past] = doc["history"]
    assert past["resolved_at"] == at(40).isoformat() and past["started_at"] == at(5).isoformat()


def test_history_covers_the_page_days_and_internal_closing_ends_the_public_incident(any_store: Store,
                                                                                   cfg: Config) -> None:
    old = incident.declare(any_store, cfg.model.incidents, "old", "SEV3", "ana", NOW - timedelta(days=100)).id
    incident_update.publish(any_store, cfg, old, "Old trouble", "resolved", "ana", NOW - timedelta(days=100))
    iid = declare(any_store, cfg)
    incident_update.publish(any_store, cfg, iid, "Looking", "investigating", "ana", at(1),
                            components=["Database=outage"])
    incident.move(any_store, iid, "resolved", "ana", at(30))  # resolved internally, no public all-clear
    doc = status.build(cfg, any_store, NOW)
    assert doc["incidents"] == [] and [h["id"] for h in doc["history"]] == [iid]
    assert {c["name"]: c["reported"] for c in doc["components"]}["Database"] is False


def test_a_notice_is_up_until_its_time_or_until_it_is_expired(any_store: Store, cfg: Config) -> None:
    n = status_notice.post(any_store, cfg, "Card payments slow", "ana", at(0), components=["Database=degraded"],
                           for_seconds=7200)
    assert (n.row.kind, n.row.status, n.row.expires_at) == ("notice", "degraded", at(120))
    doc = status.build(cfg, any_store, at(60))
    assert [x["title"] for x in doc["notices"]] == ["Payments provider slow", "Card payments slow"]
    assert {c["name"]: c["state"] for c in doc["components"]}["Database"] == "degraded"
    assert [x["title"] for x in status.build(cfg, any_store, at(121))["notices"]] == ["Payments provider slow"]

    forever = status_notice.post(any_store, cfg, "Planned migration tonight", "ana", at(0))
    assert forever.row.status == "info" and [x.row.id for x in status_notice.active(any_store, at(60))] == [
        forever.row.id, n.row.id]
    status_notice.expire(any_store, forever.row.id, at(61))
    assert [x.row.id for x in status_notice.active(any_store, at(62))] == [n.row.id]
    with pytest.raises(UsageError, match="already down"):
        status_notice.expire(any_store, forever.row.id, at(62))
    with pytest.raises(UsageError, match="no notice 999"):
        status_notice.expire(any_store, 999, at(62))


@pytest.fixture
def client(tmp_path: Path, cfg: Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Store]]:
    set_tokens(monkeypatch)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    seed(store)
    with TestClient(create_app(context(cfg, store)), headers={"accept": "text/html"}) as c:
        yield c, store
    store.close()


def test_the_web_status_page_shows_public_updates_and_nothing_internal(client: tuple[TestClient, Store],
                                                                       cfg: Config) -> None:
    c, store = client
    iid = declare(store, cfg, title="Internal: hunter2 leaked on db-port")
    incident.note(store, iid, "password is s3cr3t-dsn, call carol", "carol", at(2))
    incident.assign(store, cfg.model.incidents, iid, "commander", "carol", "ana", at(3))
    incident_update.publish(store, cfg, iid, "Some payments are failing; we are on it", "investigating",
                            "dave-the-comms", at(5), components=["Database=outage"])
    status_notice.post(store, cfg, "Maintenance on Sunday", "erin-ops", at(6))
    html = c.get("/status").text
    doc = c.get("/status?format=json").json()
    assert "Some payments are failing; we are on it" in html and "Maintenance on Sunday" in html
    assert "Database (outage)" in html
    assert doc["incidents"][0]["message"] == "Some payments are failing; we are on it"
    assert {x["name"]: x["state"] for x in doc["components"]}["Database"] == "outage"
    text = html + c.get("/status?format=json").text
    for internal in ("hunter2", "Internal:", "s3cr3t", "carol", "ana", "dave-the-comms", "erin-ops", "db-port",
                     "api-health", "SEV2", "commander"):
        assert internal not in text, internal


def test_the_cli_posts_updates_and_notices_with_json_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(
        "version: 1\nchecks:\n  api-up: {tcp: {host: 127.0.0.1, port: 9}}\n"
        "status_page:\n  components:\n    - {name: api, checks: [api-up]}\n")
    env = {"USER": "ana"}
    n = str(opsbook("incident", "declare", "API down", "--severity", "SEV1", "--json", cwd=tmp_path, env=env)
            .json["id"])
    r = opsbook("incident", "update", n, "--public", "Investigating errors", "--status", "investigating",
                "--component", "api=outage", "--json", cwd=tmp_path, env=env)
    assert r.code == 0, r.text
    assert r.json["schema"] == "opsbook.incident-update/1" and r.json["update"]["components"] == {"api": "outage"}
    assert r.json["incident"]["events"][-1]["kind"] == "update"
    r = opsbook("incident", "update", n, "--public", "x", "--status", "identified", "--component", "apj=degraded",
                cwd=tmp_path)
    assert r.code == 2 and "did you mean 'api'" in r.text
    r = opsbook("incident", "update", n, "--public", "x", "--status", "fixed", cwd=tmp_path)
    assert r.code == 2
    assert "public, investigating: Investigating errors" in opsbook("incident", "show", n, cwd=tmp_path).stdout

    r = opsbook("status", "notice", "Slow logins", "--component", "api", "--for", "2h", "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    assert r.json["schema"] == "opsbook.status-notice/1" and r.json["level"] == "degraded" and r.json["expires_at"]
    nid = str(r.json["id"])
    assert [x["id"] for x in opsbook("status", "notice", "--list", "--json", cwd=tmp_path).json["notices"]] == [
        int(nid)]
    assert opsbook("status", "notice", "--id", nid, "--expire", cwd=tmp_path).code == 0
    r = opsbook("status", "notice", "--id", nid, "--expire", "--json", cwd=tmp_path)
    assert r.code == 2 and "already down" in r.json["error"]["message"]
    assert opsbook("status", "notice", "--list", "--json", cwd=tmp_path).json["notices"] == []
    assert opsbook("status", "notice", cwd=tmp_path).code == 2


def test_the_api_runs_the_lifecycle_as_the_cli_does_audited_with_400_404_and_409_envelopes(
        client: tuple[TestClient, Store]) -> None:
    c, store = client
    op, viewer = bearer("on-call"), bearer("developer")
    assert c.post("/api/v1/incidents", json={"title": "x", "severity": "SEV2"}, headers=viewer).status_code == 403
    r = c.post("/api/v1/incidents", json={"title": "Checkout 502", "severity": "SEV1",
                                          "components": ["api"]}, headers=op)
    assert r.status_code == 201, r.text
    inc = r.json()["incident"]
    assert (inc["status"], inc["created_by"]) == ("triage", "on-call")
    path = f"/api/v1/incidents/{inc['id']}"
    assert c.post(f"{path}/ack", headers=op).json()["incident"]["status"] == "investigating"
    assert c.post(f"{path}/notes", json={"text": "rolled back"}, headers=op).status_code == 201
    r = c.post(f"{path}/updates", json={"message": "We are on it", "status": "identified",
                                        "components": ["Storefront=degraded"]}, headers=op)
    assert r.status_code == 201 and r.json()["update"]["components"] == {"Storefront": "degraded"}
    r = c.post(f"{path}/updates", json={"message": "x", "status": "identified", "components": ["Storefrnt"]},
               headers=op)
    assert r.status_code == 400 and "did you mean 'Storefront'" in r.json()["error"]["message"]

    r = c.post(f"{path}/close", headers=op)
    assert r.status_code == 400 and r.json()["error"]["type"] == "InvalidTransition"
    r = c.post(f"{path}/resolve", json={"expected": "triage"}, headers=op)
    assert r.status_code == 409 and r.json()["error"]["type"] == "IncidentConflict"
    assert "on-call made it investigating" in r.json()["error"]["message"]
    assert c.post(f"{path}/mitigate", headers=op).json()["incident"]["status"] == "mitigated"
    assert c.post(f"{path}/resolve", json={"expected": "mitigated"}, headers=op).status_code == 200
    r = c.post(f"{path}/close", headers=op)  # a SEV1 needs its post-mortem first, as on the CLI
    assert r.status_code == 409 and r.json()["error"]["type"] == "PostmortemMissing"
    with store.transaction() as tx:  # what `incident postmortem ID --out FILE` records
        rows.add_event(tx, inc["id"], NOW, "postmortem", "ana", {"file": "pm.md"})
    assert c.post(f"{path}/close", headers=op).json()["incident"]["status"] == "closed"
    assert c.post("/api/v1/incidents/99/ack", headers=op).status_code == 404
    assert c.get("/api/v1/incidents/abc", headers=viewer).status_code == 400

    shown = c.get(path, headers=viewer).json()["incident"]
    assert [e["kind"] for e in shown["events"]] == ["declared", "ack", "note", "update", "status", "status",
                                                  "postmortem", "status"]
    assert c.get("/api/v1/incidents", headers=viewer).json()["incidents"] == []
    assert [i["id"] for i in c.get("/api/v1/incidents?status=all", headers=viewer).json()["incidents"]] == [
        inc["id"]]
    entries = c.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
    assert [(e["action"], e["outcome"]) for e in reversed(entries)] == [
        ("incident.declare", "denied"), ("incident.declare", "ok"), ("incident.ack", "ok"), ("incident.note", "ok"),
        ("incident.update", "ok"), ("incident.update", "error 400"), ("incident.close", "error 400"),
        ("incident.resolve", "error 409"), ("incident.mitigate", "ok"), ("incident.resolve", "ok"),
        ("incident.close", "error 409"), ("incident.close", "ok")]
