"""Alert rules with `incident:` declare incidents when they fire, once per open incident, on both
store dialects with an injected clock (docs/incidents.md "Declared by alert rules")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.load import Config
from opsbook.errors import ConfigError, ConfigErrors
from opsbook.ops import incident
from opsbook.rules import incidents as auto
from opsbook.rules.engine import evaluate
from opsbook.store import Store
from opsbook.store import incidents as rows
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.pgutil import scratch_database
from tests.support.rulesutil import T0, minutes, open_store, record, result, state

CONFIG = """
checks:
  api: {command: {run: "true"}}
alerts:
  api-down:
    when: check api failing
    for: 3m
    severity: page
    annotations: {summary: "API down"}
    incident: {severity: SEV2}
  quiet:
    when: check api failing
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: Any, tmp_path: Path) -> Iterator[Store]:
    with open_store(request.param, tmp_path) as s:
        yield s


def at(cfg: Config, store: Store, mins: float, status: str | None) -> str:
    """Record the check's result at T0 + mins (None: no new result), evaluate; the alert's state."""
    now = T0 + minutes(mins)
    if status is not None:
        record(store, result("api", status, now))  # type: ignore[arg-type]
    return state(evaluate(cfg, store, now), "api-down")


def all_incidents(store: Store) -> list[incident.Incident]:
    return sorted(incident.list_incidents(store, open_only=False, since=None), key=lambda i: i.id)


def alert_events(store: Store, incident_id: int) -> list[str]:
    return [e.detail["alert"] for e in incident.show(store, incident_id).events if e.kind in ("alert", "declared")]


def test_a_firing_rule_declares_one_incident_and_joins_it_until_people_resolve_it(store: Store,
                                                                                   tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    assert at(cfg, store, 0, "fail") == "pending" and all_incidents(store) == []
    assert at(cfg, store, 3, "fail") == "firing"
    (first,) = all_incidents(store)
    shown = incident.show(store, first.id)
    assert (first.row.severity, first.row.title, first.status) == ("SEV2", "API down", "triage")
    assert first.row.detected_at == T0 and first.row.declared_at == T0 + minutes(3)  # first pending, not firing
    assert first.row.dedup_key is not None and first.row.dedup_key.startswith("alert:api-down:")
    (declared,) = shown.events
    assert declared.kind == "declared" and declared.actor == "opsbook"
    assert declared.detail["rule"] == "api-down" and declared.detail["labels"]["check"] == "api"

    assert at(cfg, store, 4, "fail") == "firing"  # still firing: nothing new
    assert len(all_incidents(store)) == 1 and alert_events(store, first.id) == ["fired"]

    assert at(cfg, store, 5, "pass") == "resolved"  # the alert resolving does not resolve the incident
    assert all_incidents(store)[0].status == "triage"
    assert at(cfg, store, 6, "fail") == "pending"
    assert at(cfg, store, 9, None) == "firing"  # fires again while the incident is open: joins it
    assert len(all_incidents(store)) == 1
    assert alert_events(store, first.id) == ["fired", "resolved", "fired again"]
    assert {e.actor for e in incident.show(store, first.id).events} == {"opsbook"}

    incident.move(store, first.id, "resolved", "ana", T0 + minutes(10))  # people resolve it
    assert at(cfg, store, 11, "pass") == "resolved"
    assert alert_events(store, first.id)[-1] == "resolved"  # noted on the incident people resolved
    assert at(cfg, store, 12, "fail") == "pending"
    assert at(cfg, store, 15, None) == "firing"  # a new firing after resolution: a new incident
    one, two = all_incidents(store)
    assert one.id == first.id and one.status == "resolved"
    assert two.status == "triage" and two.row.detected_at == T0 + minutes(12)
    assert two.row.dedup_key == first.row.dedup_key


def test_rules_without_incident_declare_nothing_and_the_title_can_be_set(store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG.replace("incident: {severity: SEV2}", 'incident: {severity: SEV1, title: "Checkout down"}'),
               tmp_path)
    at(cfg, store, 0, "fail")
    ev = evaluate(cfg, store, T0 + minutes(3))
    (inc,) = all_incidents(store)  # the quiet rule fired too, without an incident
    assert (inc.row.title, inc.row.severity) == ("Checkout down", "SEV1")
    assert [i.to_dict() for i in ev.incidents] == [
        {"incident": inc.id, "action": "declared", "rule": "api-down", "fingerprint": ev.incidents[0].fingerprint}]
    assert ev.to_dict()["incidents"][0]["action"] == "declared"


def test_the_store_keeps_one_open_incident_per_dedup_key(store: Store) -> None:
    fields: dict[str, Any] = dict(title="x", severity="SEV2", status="triage", components=[], summary="",
                                  dedup_key="alert:k", detected_at=T0, declared_at=T0, created_by="opsbook")
    with store.transaction() as tx:
        first = rows.insert_unless_open(tx, **fields)
        assert first is not None and rows.insert_unless_open(tx, **fields) is None
    incident.move(store, first.id, "resolved", "ana", T0 + minutes(1))
    with store.transaction() as tx:  # resolved is not open: the key is free again
        assert rows.insert_unless_open(tx, **fields) is not None


def test_two_replicas_declaring_the_same_alert_at_once_open_one_incident(tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    with scratch_database("opsbook_autoinc") as dsn:
        a, b = Store.open(dsn), Store.open(dsn)
        try:
            at(cfg, a, 0, "fail")
            record(a, result("api", "fail", T0 + minutes(3)))
            # both evaluate the pending -> firing step at once ...
            gate = threading.Barrier(2)
            done: list[Any] = []

            def evaluator(s: Store) -> None:
                gate.wait()
                done.append(evaluate(cfg, s, T0 + minutes(3)))

            threads = [threading.Thread(target=evaluator, args=(s,)) for s in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(done) == 2 and len(all_incidents(a)) == 1
            # ... and when both have stored the transition, the unique index still yields one
            alert = next(x for x in done[0].alerts + done[1].alerts if x.rule == "api-down")
            results: list[list[auto.AutoIncident]] = []

            def declare(s: Store) -> None:
                gate.wait()
                results.append(auto.apply(cfg, s, [alert], [], T0 + minutes(3)))

            threads = [threading.Thread(target=declare, args=(s,)) for s in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            (inc,) = all_incidents(b)
            assert sorted(r.action for rs in results for r in rs) == ["joined", "joined"]
            assert alert_events(b, inc.id) == ["fired", "fired again", "fired again"]
        finally:
            a.close()
            b.close()


def test_an_unknown_incident_severity_is_a_config_error_with_a_did_you_mean(tmp_path: Path) -> None:
    bad = CONFIG.replace("severity: SEV2", "severity: SEV22")
    with pytest.raises((ConfigErrors, ConfigError)) as e:
        load(bad, tmp_path)
    errs = e.value.errors if isinstance(e.value, ConfigErrors) else [e.value]
    (err,) = errs
    assert err.path == "alerts.api-down.incident.severity" and "did you mean 'SEV2'" in err.message
    (tmp_path / "opsbook.yaml").write_text("version: 1\n" + bad)
    r = opsbook("alerts", "eval", "--no-notify", cwd=tmp_path)
    assert r.code == 2 and "did you mean 'SEV2'" in r.text
