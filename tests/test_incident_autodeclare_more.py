"""What the rules declare and watch beyond plain alert incidents (docs/incidents.md): a page-tier
SLO burn declares one incident per SLO, auto-declared incidents carry their components, a merged
incident's alerts join the survivor, and `incident postmortem overdue` is a rule source. Both
store dialects, injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.errors import ConfigErrors
from opsbook.ops import incident, incident_edit, incident_update
from opsbook.rules.engine import evaluate
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.rulesutil import T0, minutes, open_store, record, result, state


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: Any, tmp_path: Path) -> Iterator[Store]:
    with open_store(request.param, tmp_path) as s:
        yield s


def all_incidents(store: Store) -> list[incident.Incident]:
    return sorted(incident.list_incidents(store, open_only=False, since=None), key=lambda i: i.id)


SLO = """
checks:
  api: {command: {run: "true"}}
slos:
  api-availability:
    objective: 99%
    check: api
    incident: {severity: SEV1}
"""


def test_a_page_tier_slo_burn_declares_one_incident_naming_the_slo_window_and_burn_rate(
        store: Store, tmp_path: Path) -> None:
    cfg = load(SLO, tmp_path)
    for m in range(0, 60):  # an hour of failures: 100x burn, both page tiers and the ticket tiers fire
        record(store, result("api", "fail", T0 + minutes(m)))
    ev = evaluate(cfg, store, T0 + minutes(60))
    (inc,) = all_incidents(store)
    assert (inc.row.severity, inc.row.title, inc.row.dedup_key) == (
        "SEV1", "SLO api-availability is burning its error budget", "slo:api-availability")
    assert sorted(i.action for i in ev.incidents) == ["declared", "joined"]  # the two page tiers, one incident
    declared = incident.show(store, inc.id).events[0]
    d = declared.detail
    assert (d["slo"], d["slo_window"], d["burn_rate"]) == ("api-availability", "30d", pytest.approx(100.0))
    assert {d["tier"], d["long_window"]} & {"14.4x", "6x"} and d["short_window"] in ("5m", "30m")
    ticket = [a for a in ev.alerts if a.rule == "slo:api-availability" and a.labels["severity"] == "ticket"]
    assert ticket and all(a.state == "firing" for a in ticket)  # ticket tiers fire but declare nothing more
    assert len(all_incidents(store)) == 1


def test_an_slo_without_incident_declares_nothing(store: Store, tmp_path: Path) -> None:
    cfg = load(SLO.replace("    incident: {severity: SEV1}\n", ""), tmp_path)
    for m in range(0, 60):
        record(store, result("api", "fail", T0 + minutes(m)))
    evaluate(cfg, store, T0 + minutes(60))
    assert all_incidents(store) == []


ALERTS = """
checks:
  api: {command: {run: "true"}}
  web: {command: {run: "true"}}
status_page:
  components:
    - {name: API, checks: [api]}
    - {name: Website, checks: [web]}
alerts:
  api-down:
    when: check api failing
    incident: {severity: SEV2}
  web-down:
    when: check web failing
    incident: {severity: SEV3, components: [Website, API]}
"""


def test_an_auto_declared_incident_carries_its_components_and_status_shows_them(store: Store,
                                                                                tmp_path: Path) -> None:
    cfg = load(ALERTS, tmp_path)
    record(store, result("api", "fail", T0), result("web", "fail", T0))
    evaluate(cfg, store, T0)
    api, web = all_incidents(store)
    assert api.row.components == ["API"]  # the status page component showing the alert's check
    assert web.row.components == ["Website", "API"]  # as configured
    assert incident.show(store, api.id).events[0].detail["components"] == ["API"]
    done = incident_update.publish(store, cfg, api.id, "Looking into it", "investigating", "opsbook", T0)
    assert done.update.components == {"API": "degraded"}  # no --component: the incident's own
    later = incident_update.publish(store, cfg, api.id, "Found it", "identified", "opsbook", T0 + minutes(1),
                                    components=["API=outage"])
    assert later.update.components == {"API": "outage"}
    again = incident_update.publish(store, cfg, api.id, "Fixing", "identified", "opsbook", T0 + minutes(2))
    assert again.update.components == {}  # once one named components, the page carries the latest naming


def test_an_unknown_incident_component_or_slo_incident_severity_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load(ALERTS.replace("components: [Website, API]", "components: [Websit]"), tmp_path)
    assert "alerts.web-down.incident.components[0]" in str(e.value) and "did you mean 'Website'" in str(e.value)
    with pytest.raises(ConfigErrors) as e:
        load(SLO.replace("SEV1", "SEV9"), tmp_path)
    assert "slos.api-availability.incident.severity" in str(e.value)


def test_an_alert_of_a_merged_incident_joins_the_survivor_until_that_is_resolved(store: Store,
                                                                                 tmp_path: Path) -> None:
    cfg = load(ALERTS, tmp_path)
    record(store, result("api", "fail", T0))
    evaluate(cfg, store, T0)
    (dup,) = all_incidents(store)
    main = incident.declare(store, cfg.model.incidents, "Checkout down", "SEV1", "ana", T0 + minutes(1)).id
    incident_edit.merge(store, dup.id, main, "ana", T0 + minutes(2))
    record(store, result("api", "pass", T0 + minutes(3)))
    assert state(evaluate(cfg, store, T0 + minutes(3)), "api-down") == "resolved"
    record(store, result("api", "fail", T0 + minutes(4)))
    ev = evaluate(cfg, store, T0 + minutes(4))
    assert [(i.incident_id, i.action) for i in ev.incidents] == [(main, "joined")]
    assert len(all_incidents(store)) == 2
    alerts = [e.detail["alert"] for e in incident.show(store, main).events if e.kind == "alert"]
    assert alerts == ["resolved", "fired again"]  # the resolve followed the key to the survivor too

    incident.move(store, main, "resolved", "ana", T0 + minutes(5))
    record(store, result("api", "pass", T0 + minutes(6)))
    evaluate(cfg, store, T0 + minutes(6))
    record(store, result("api", "fail", T0 + minutes(7)))
    ev = evaluate(cfg, store, T0 + minutes(7))
    assert [i.action for i in ev.incidents] == ["declared"]  # the survivor is resolved: a new one
    assert len(all_incidents(store)) == 3


OVERDUE = """
alerts:
  postmortem-late:
    when: incident postmortem overdue
    severity: ticket
    annotations: {summary: "a post-mortem is overdue"}
incidents:
  postmortem: {due: 24h}
"""


def test_postmortem_overdue_fires_per_incident_past_due_and_resolves_once_it_is_written(
        store: Store, tmp_path: Path) -> None:
    cfg = load(OVERDUE, tmp_path)
    inc_cfg = cfg.model.incidents
    sev1 = incident.declare(store, inc_cfg, "DB down", "SEV1", "ana", T0).id
    sev3 = incident.declare(store, inc_cfg, "slow page", "SEV3", "ana", T0).id
    still_open = incident.declare(store, inc_cfg, "cache", "SEV2", "ana", T0).id
    for iid in (sev1, sev3):
        incident.move(store, iid, "resolved", "ana", T0 + minutes(10))
    due = T0 + minutes(10) + timedelta(hours=24)
    assert evaluate(cfg, store, due - minutes(1)).alerts == []  # not due yet
    ev = evaluate(cfg, store, due + minutes(1))
    (alert,) = [a for a in ev.alerts if a.rule == "postmortem-late"]
    assert alert.state == "firing" and alert.labels["incident"] == str(sev1)
    assert alert.labels["incident_severity"] == "SEV1" and alert.value == 60.0
    assert f"opsbook incident postmortem {sev1} --out FILE" in alert.reason
    assert [(t.rule, t.to_state) for t in ev.transitions] == [("postmortem-late", "firing")]  # what notifies
    assert still_open not in {int(a.labels["incident"]) for a in ev.alerts}

    incident_edit.record_postmortem(store, sev1, "ana", due + minutes(5), file="pm.md")
    ev = evaluate(cfg, store, due + minutes(6))
    assert [(t.rule, t.to_state) for t in ev.transitions] == [("postmortem-late", "resolved")]
    assert evaluate(cfg, store, due + minutes(7)).alerts == []


def test_an_incident_closed_without_its_post_mortem_is_not_overdue(store: Store, tmp_path: Path) -> None:
    cfg = load(OVERDUE, tmp_path)
    iid = incident.declare(store, cfg.model.incidents, "DB down", "SEV1", "ana", T0).id
    incident.move(store, iid, "resolved", "ana", T0 + minutes(10))
    incident_edit.close(store, cfg.model.incidents, iid, "ana", T0 + minutes(20), without_postmortem="drill")
    assert evaluate(cfg, store, T0 + timedelta(days=3)).alerts == []


@pytest.mark.parametrize("when", ["incident postmortem late", "incident overdue"])
def test_a_misspelt_incident_condition_is_a_config_error_showing_the_form(tmp_path: Path, when: str) -> None:
    with pytest.raises(ConfigErrors) as e:
        load(f"alerts:\n  x: {{when: {when}}}\n", tmp_path)
    assert "incident postmortem overdue" in str(e.value)
