"""PagerDuty Events API v2 against a local PagerDuty-compatible endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.notify import acks, groups, outbox
from opsbook.notify.pipeline import deliver_due, process
from opsbook.notify.receivers.pagerduty import SUMMARY_MAX, event
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, Recorder, alert, minutes, recorder, sqlite_store

__all__ = ["sqlite_store"]
KEY = "R0UT1NGKEY0123456789abcdef"


@pytest.fixture
def pd(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, str]]:
    monkeypatch.setenv("PD_ROUTING_KEY", KEY)
    with recorder() as (rec, url):
        yield rec, url


def config(url: str, tmp_path: Path) -> Config:
    return load(f"""
        notify:
          route: {{receiver: pager, group_by: [alertname, env]}}
          external_url: https://ops.example.com
          receivers:
            pager: {{pagerduty: {{routing_key: {{env: PD_ROUTING_KEY}}, url: "{url}/v2/enqueue"}}}}
        """, tmp_path)


def test_pagerduty_sees_trigger_then_resolve_with_the_same_dedup_key(
        pd: tuple[Recorder, str], sqlite_store: Store, tmp_path: Path) -> None:
    rec, url = pd
    cfg = config(url, tmp_path)
    for t in range(0, 5):
        process(cfg, sqlite_store, [alert("api-down", env="prod")], T0 + minutes(t))
        deliver_due(cfg, sqlite_store, T0 + minutes(t))
    for t in range(6, 20):
        process(cfg, sqlite_store, [alert("api-down", "resolved", env="prod")], T0 + minutes(t))
        deliver_due(cfg, sqlite_store, T0 + minutes(t))
    events = [r["json"] for r in rec.requests]
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert events[0]["dedup_key"] == events[1]["dedup_key"]
    assert all(e["routing_key"] == KEY for e in events)
    trigger = events[0]["payload"]
    assert trigger["severity"] == "critical"  # severity: page
    assert trigger["source"] == "opsbook" and trigger["custom_details"]["alerts"][0]["labels"]["env"] == "prod"
    assert "api-down" in trigger["summary"] and events[0]["client_url"] == "https://ops.example.com"
    assert events[0]["links"] == [{"href": "https://runbooks.example/api-down", "text": "runbook"}]
    rows = outbox.rows(sqlite_store)
    assert {r.receipt["dedup_key"] for r in rows if r.receipt} == {events[0]["dedup_key"]}
    with sqlite_store.db.transaction() as tx:
        assert KEY not in str(tx.all("SELECT * FROM notify_outbox"))


def test_acknowledging_a_group_sends_an_acknowledge_event_and_stops_repeats(
        pd: tuple[Recorder, str], sqlite_store: Store, tmp_path: Path) -> None:
    rec, url = pd
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down", env="prod")], T0)
    process(cfg, sqlite_store, [alert("api-down", env="prod")], T0 + minutes(1))
    deliver_due(cfg, sqlite_store, T0 + minutes(1))
    (g,) = groups.list_groups(sqlite_store)
    ack = acks.acknowledge(sqlite_store, g.group_key, "ana", T0 + minutes(2))
    assert ack.enqueued == ["pager"]
    for h in range(1, 10):
        process(cfg, sqlite_store, [alert("api-down", env="prod")], T0 + minutes(60 * h))
        deliver_due(cfg, sqlite_store, T0 + minutes(60 * h))
    assert [(r["json"]["event_action"], r["json"]["dedup_key"]) for r in rec.requests] == [
        ("trigger", g.dedup_key), ("acknowledge", g.dedup_key)]


def test_a_wrong_routing_key_400_is_dead_not_retried(pd: tuple[Recorder, str], sqlite_store: Store,
                                                     tmp_path: Path) -> None:
    rec, url = pd
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + minutes(1))
    rec.fail = 400
    assert deliver_due(cfg, sqlite_store, T0 + minutes(1))["dead"] == 1
    (row,) = outbox.rows(sqlite_store)
    assert row.last_error and "routing key" in row.last_error["hint"]


def test_summary_is_cut_to_1024_characters_and_severity_is_the_worst_mapped(tmp_path: Path) -> None:
    cfg = config("http://127.0.0.1:9", tmp_path)
    spec = cfg.model.notify.receivers["pager"].pagerduty
    assert spec is not None
    doc = {"dedup_key": "k", "status": "firing", "title": "x" * 5000, "alerts": [
        {"state": "firing", "labels": {"severity": "ticket"}}, {"state": "firing", "labels": {"severity": "page"}},
        {"state": "firing", "labels": {"severity": "weird"}}]}
    body = event(spec, doc, "rk")
    assert len(body["payload"]["summary"]) == SUMMARY_MAX and body["payload"]["severity"] == "critical"
    assert event(spec, {**doc, "alerts": doc["alerts"][:1]}, "rk")["payload"]["severity"] == "warning"
    assert event(spec, {**doc, "status": "resolved"}, "rk") == {
        "routing_key": "rk", "event_action": "resolve", "dedup_key": "k"}
