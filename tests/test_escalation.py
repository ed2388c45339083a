"""Escalation policies: an unacknowledged incident moves up its policy's levels through the
durable outbox, on both store dialects, with an injected clock and a real HTTP receiver
(docs/escalation.md)."""

from __future__ import annotations

import asyncio
import io
import json
import random
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsbook.config.escalation import Level
from opsbook.config.load import Config
from opsbook.daemon import leases
from opsbook.daemon.log import Log
from opsbook.daemon.scheduler import Scheduler
from opsbook.errors import ConfigErrors, IncidentConflict, InvalidTransition
from opsbook.notify import acks, groups, outbox, pipeline
from opsbook.notify.pipeline import deliver_due
from opsbook.ops import escalation, incident, timeline
from opsbook.rules.engine import current_alerts, evaluate
from opsbook.store import Store
from opsbook.store import escalations as ladder
from opsbook.web.app import create_app
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.notifyutil import Recorder, recorder
from tests.support.rulesutil import T0, minutes, record, result
from tests.support.webutil import bearer, context, make_config, set_tokens

# alice is on call on T0's day (2026-03-02): the rotation starts that day with her
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
notify:
  receivers:
    alice-pager: {webhook: {url: "%(url)s/alice", timeout: 2s}}
    bob-pager: {webhook: {url: "%(url)s/bob", timeout: 2s}}
    lead-pager: {webhook: {url: "%(url)s/lead", timeout: 2s}}
    team: {webhook: {url: "%(url)s/team", timeout: 2s}}
  route: {receiver: team, group_wait: 0s}
  delivery: {initial_backoff: 10s, max_backoff: 10s}
people:
  alice: {contact: [alice-pager]}
  bob: {contact: [bob-pager]}
  lead: {contact: [lead-pager]}
oncall:
  primary:
    layers: [{people: [alice, bob], rotation: 1d, handoff: "00:00", start: 2026-03-02}]
escalation:
  standard:
    levels:
      - {notify: {oncall: [primary]}}
      - {wait: 10m, notify: {people: [lead]}}
      - {wait: 10m, notify: {receivers: [team]}}
  twice:
    repeat: 1
    levels:
      - {notify: {receivers: [team]}}
      - {wait: 5m, notify: {people: [lead]}}
incidents:
  escalation: {SEV2: standard, default: standard}
"""


def config(tmp_path: Path, url: str = "http://127.0.0.1:9") -> Config:
    return load(CONFIG % {"url": url}, tmp_path)


def fired(steps: list[escalation.Step]) -> list[tuple[int, int, list[str]]]:
    """(level, round, receivers) of each level a step fired."""
    return [(s.level, s.round, s.receivers) for s in steps if s.action == "fired"]


def escalated(store: Store, incident_id: int) -> list[tuple[int, int]]:
    return [(e.detail["level"], e.detail["round"]) for e in incident.show(store, incident_id).events
            if e.kind == "escalated"]


def outbox_keys(store: Store) -> Counter[str]:
    return Counter(r.dedup_key for r in outbox.rows(store, limit=1000) if r.dedup_key.startswith("esc:"))


def paths(rec: Recorder) -> list[str]:
    return [r["path"] for r in rec.requests]


def declare(store: Store, cfg: Config, title: str = "API down", severity: str = "SEV2") -> int:
    return incident.declare(store, cfg.model.incidents, title, severity, "ana", T0, model=cfg.model).id


def test_an_alert_declares_one_incident_that_pages_on_call_then_the_next_level_until_acknowledged(
        any_store: Store, tmp_path: Path) -> None:
    with recorder() as (rec, url):
        cfg = config(tmp_path, url)
        record(any_store, result("api", "fail", T0))
        evaluate(cfg, any_store, T0)
        record(any_store, result("api", "fail", T0 + minutes(3)))
        (declared,) = evaluate(cfg, any_store, T0 + minutes(3)).incidents
        assert declared.action == "declared"
        iid = declared.incident_id
        assert escalation.state(cfg, any_store, iid).to_dict()["next_at"] == (T0 + minutes(3)).isoformat()

        steps = escalation.step(any_store, cfg, T0 + minutes(3), "w1")
        assert fired(steps) == [(1, 1, ["alice-pager"])] and steps[0].people == {"alice": "on call for primary"}
        deliver_due(cfg, any_store, T0 + minutes(3))
        assert paths(rec) == ["/alice"]
        doc = rec.requests[0]["json"]
        assert doc["kind"] == "escalation" and doc["incident"]["id"] == iid and doc["escalation"]["level"] == 1
        assert doc["title"].startswith(f"[ESCALATION L1] incident {iid} SEV2")

        record(any_store, result("api", "fail", T0 + minutes(5)))
        evaluate(cfg, any_store, T0 + minutes(5))  # still firing: no second incident, no second ladder
        assert escalation.step(any_store, cfg, T0 + minutes(12), "w1") == []  # level 2 waits 10m
        assert fired(escalation.step(any_store, cfg, T0 + minutes(13), "w1")) == [(2, 1, ["lead-pager"])]
        deliver_due(cfg, any_store, T0 + minutes(13))
        assert paths(rec) == ["/alice", "/lead"]

        incident.ack(any_store, iid, "lead", T0 + minutes(14))
        assert escalation.step(any_store, cfg, T0 + minutes(40), "w1") == []  # no level 3
        deliver_due(cfg, any_store, T0 + minutes(40))
        assert paths(rec) == ["/alice", "/lead"]
    assert escalated(any_store, iid) == [(1, 1), (2, 1)]
    state = escalation.state(cfg, any_store, iid)
    assert state is not None and state.to_dict()["level_reached"] == 2 and state.row.stopped == "acknowledged"
    assert len(incident.list_incidents(any_store, open_only=False, since=None)) == 1
    kinds = [e.kind for e in timeline.for_incident(any_store, incident.show(any_store, iid).row,
                                                   T0 + minutes(40)).entries]
    assert kinds.count("incident.escalated") == 2 and kinds.count("notification.delivered") == 2


def test_acknowledging_the_alert_group_acknowledges_its_incident_and_stops_the_escalation(
        any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    record(any_store, result("api", "fail", T0))
    evaluate(cfg, any_store, T0)
    record(any_store, result("api", "fail", T0 + minutes(3)))
    (declared,) = evaluate(cfg, any_store, T0 + minutes(3)).incidents
    pipeline.process(cfg, any_store, current_alerts(any_store), T0 + minutes(3))
    assert fired(escalation.step(any_store, cfg, T0 + minutes(3), "w1")) == [(1, 1, ["alice-pager"])]
    (key,) = groups.all_keys(any_store)
    ack = acks.acknowledge(any_store, key, "alice", T0 + minutes(4))  # CLI, API, dashboard: one function
    assert ack.incidents == [declared.incident_id] and ack.to_dict()["incidents"] == [declared.incident_id]
    inc = incident.show(any_store, declared.incident_id)
    assert inc.status == "investigating" and inc.row.acknowledged_at == T0 + minutes(4)
    assert inc.events[-1].detail["via"].startswith("alert group ")
    assert escalation.step(any_store, cfg, T0 + minutes(30), "w1") == []
    assert escalation.state(cfg, any_store, declared.incident_id).row.stopped == "acknowledged"
    assert acks.acknowledge(any_store, key, "bob", T0 + minutes(5)).incidents == []  # already acknowledged


def test_an_alert_rules_escalation_overrides_the_severitys_policy_and_default_covers_the_rest(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load((CONFIG % {"url": "http://127.0.0.1:9"}).replace(
        "incident: {severity: SEV2}", "incident: {severity: SEV2, escalation: twice}"), tmp_path)
    record(any_store, result("api", "fail", T0))
    evaluate(cfg, any_store, T0)
    record(any_store, result("api", "fail", T0 + minutes(3)))
    (declared,) = evaluate(cfg, any_store, T0 + minutes(3)).incidents
    assert escalation.state(cfg, any_store, declared.incident_id).row.policy == "twice"
    by_hand = declare(any_store, cfg, severity="SEV1")  # not listed: the default entry
    assert escalation.state(cfg, any_store, by_hand).row.policy == "standard"


def test_two_workers_stepping_at_once_fire_each_level_exactly_once(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    ids = [declare(any_store, cfg, f"incident {n}") for n in range(4)]
    for at in (0, 10, 20, 30):
        barrier = threading.Barrier(2)
        got: dict[str, list[escalation.Step]] = {}

        def work(name: str, at: int = at, barrier: threading.Barrier = barrier,
                 got: dict[str, list[escalation.Step]] = got) -> None:
            barrier.wait()
            got[name] = escalation.step(any_store, cfg, T0 + minutes(at), name)

        threads = [threading.Thread(target=work, args=(n,)) for n in ("w1", "w2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not [s for steps in got.values() for s in steps if s.action == "error"]
        assert sum(len(fired(s)) for s in got.values()) == (len(ids) if at < 30 else 0)
    for iid in ids:
        assert escalated(any_store, iid) == [(1, 1), (2, 1), (3, 1)]
    keys = outbox_keys(any_store)
    assert len(keys) == 3 * len(ids) and set(keys.values()) == {1}


def test_a_killed_workers_claim_lapses_and_the_next_worker_fires_the_same_level_without_resending(
        any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    iid = declare(any_store, cfg)
    assert fired(escalation.step(any_store, cfg, T0, "w1")) == [(1, 1, ["alice-pager"])]
    at = T0 + minutes(10)
    with any_store.transaction() as tx:  # a worker claims level 2, then dies before firing it
        assert ladder.claim(tx, iid, 1, 0, "dead", at, escalation.CLAIM_TTL)
    assert escalation.step(any_store, cfg, at + minutes(0.5), "w2") == []  # its claim is live: hands off
    assert escalation.state(cfg, any_store, iid).row.claimed_by == "dead"
    later = at + minutes(1.1)  # the claim (60 s) lapsed
    assert fired(escalation.step(any_store, cfg, later, "w2")) == [(2, 1, ["lead-pager"])]
    with any_store.transaction() as tx:  # the dead worker coming back cannot fire level 2 again
        assert not ladder.advance(tx, iid, 1, 0, "dead", later, next_level=2, next_round=0, next_at=later)
    assert escalated(any_store, iid) == [(1, 1), (2, 1)]
    assert outbox_keys(any_store) == {f"esc:{iid}:0:0:alice-pager": 1, f"esc:{iid}:0:1:lead-pager": 1}


def test_a_receiver_down_is_retried_by_the_outbox_and_the_failed_attempt_is_on_the_timeline(
        any_store: Store, tmp_path: Path) -> None:
    with recorder() as (rec, url):
        cfg = config(tmp_path, url)
        iid = declare(any_store, cfg)
        rec.fail = 503
        escalation.step(any_store, cfg, T0, "w1")
        assert deliver_due(cfg, any_store, T0)["failed"] == 1
        (row,) = outbox.rows(any_store)
        assert (row.status, row.attempts, row.receiver) == ("pending", 1, "alice-pager")
        rec.fail = None
        assert escalation.step(any_store, cfg, T0 + minutes(1), "w1") == []  # the level is not fired again
        assert deliver_due(cfg, any_store, T0 + minutes(1))["delivered"] == 1
        assert paths(rec) == ["/alice"] and rec.attempts == 2
    entries = timeline.for_incident(any_store, incident.show(any_store, iid).row, T0 + minutes(2)).entries
    ours = [(e.kind, e.ref) for e in entries if e.ref == f"notify_outbox:{row.id}"]
    assert ours == [("notification.queued", ours[0][1]), ("notification.failed", ours[0][1]),
                    ("notification.delivered", ours[0][1])]
    failed = next(e for e in entries if e.kind == "notification.failed")
    assert "alice-pager (attempt 1)" in failed.summary
    esc = next(e for e in entries if e.kind == "incident.escalated")
    assert "standard level 1" in esc.summary and "alice (on call for primary)" in esc.summary


def test_repeat_runs_the_whole_ladder_again_then_stops(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.model.incidents.escalation["SEV3"] = "twice"
    iid = declare(any_store, cfg, severity="SEV3")
    got = []
    for m in (0, 5, 10, 15, 20, 60):  # the repeat's level 1 waits the last level's 5m, not 0
        got += fired(escalation.step(any_store, cfg, T0 + minutes(m), "w1"))
    assert got == [(1, 1, ["team"]), (2, 1, ["lead-pager"]), (1, 2, ["team"]), (2, 2, ["lead-pager"])]
    assert escalation.state(cfg, any_store, iid).row.stopped == "exhausted"
    assert len(outbox_keys(any_store)) == 4


def test_resolving_cancelling_or_an_incident_without_a_policy_never_escalates(any_store: Store,
                                                                              tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.model.incidents.escalation.pop("default")
    quiet = declare(any_store, cfg, severity="SEV4")  # no policy for SEV4
    assert escalation.state(cfg, any_store, quiet) is None
    gone = declare(any_store, cfg)
    incident.move(any_store, gone, "cancelled", "ana", T0)
    assert escalation.step(any_store, cfg, T0 + minutes(60), "w1") == []
    assert escalation.state(cfg, any_store, gone).row.stopped == "cancelled"
    with pytest.raises(InvalidTransition, match="does not escalate any more: cancelled"):
        escalation.escalate(any_store, cfg, gone, "ana", T0, "cli")


def test_a_manual_escalation_fires_the_next_level_now_once(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    iid = declare(any_store, cfg)
    escalation.step(any_store, cfg, T0, "w1")
    done = escalation.escalate(any_store, cfg, iid, "ana", T0 + minutes(1), "cli")  # level 2 was due at 10m
    assert (done.level, done.receivers) == (2, ["lead-pager"])
    assert incident.show(any_store, iid).events[-1].actor == "ana"
    with any_store.transaction() as tx:
        ladder.claim(tx, iid, 2, 0, "daemon", T0 + minutes(2), escalation.CLAIM_TTL)
    with pytest.raises(IncidentConflict, match="being fired now"):
        escalation.escalate(any_store, cfg, iid, "ana", T0 + minutes(2), "cli")
    assert escalation.state(cfg, any_store, iid).to_dict()["level_reached"] == 2


@pytest.mark.parametrize(("change", "path", "detail"), [
    (("oncall: [primary]", "oncall: [primray]"), "escalation.standard.levels[0].notify.oncall[0]",
     "no schedule named 'primray' (did you mean 'primary'?)"),
    (("people: [lead]", "people: [laed]"), "escalation.standard.levels[1].notify.people[0]",
     "no person named 'laed' (did you mean 'lead'?)"),
    (("receivers: [team]}}\n  twice", "receivers: [teem]}}\n  twice"),
     "escalation.standard.levels[2].notify.receivers[0]",
     "no receiver named 'teem' (did you mean 'team'?)"),
    (("{SEV2: standard,", "{SEV2: standrd,"), "incidents.escalation.SEV2",
     "no escalation policy named 'standrd' (did you mean 'standard'?)"),
    (("{SEV2: standard,", "{SEV22: standard,"), "incidents.escalation.SEV22",
     "no severity named 'SEV22' (did you mean 'SEV2'?)"),
    (("incident: {severity: SEV2}", "incident: {severity: SEV2, escalation: twise}"),
     "alerts.api-down.incident.escalation", "no escalation policy named 'twise' (did you mean 'twice'?)"),
])
def test_unknown_schedules_people_receivers_and_policies_are_config_errors_with_a_did_you_mean(
        tmp_path: Path, change: tuple[str, str], path: str, detail: str) -> None:
    text = CONFIG % {"url": "http://127.0.0.1:9"}
    assert change[0] in text
    with pytest.raises(ConfigErrors) as e:
        load(text.replace(*change, 1), tmp_path)
    assert [(x.path, x.detail) for x in e.value.errors] == [(path, detail)]


def test_a_policy_without_levels_or_a_repeating_ladder_without_any_wait_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="at least 1 item"):
        load("escalation: {p: {levels: []}}", tmp_path)
    with pytest.raises(ConfigErrors, match="pages everyone again at once"):
        load("notify: {receivers: {t: {file: {path: x}}}}\n"
             "escalation: {p: {repeat: 2, levels: [{notify: {receivers: [t]}}]}}", tmp_path)
    with pytest.raises(ConfigErrors, match="a level notifies someone"):
        load("escalation: {p: {levels: [{wait: 5m, notify: {}}]}}", tmp_path)


def test_the_cli_shows_the_escalation_state_escalates_by_hand_and_refuses_bad_input_with_exit_2(
        tmp_path: Path) -> None:
    text = (CONFIG % {"url": "http://127.0.0.1:9"}).replace("      - {notify: {oncall: [primary]}}",
                                                           "      - {wait: 5m, notify: {oncall: [primary]}}")
    (tmp_path / "opsbook.yaml").write_text(text)
    made = opsbook("incident", "declare", "API down", "--severity", "SEV2", "--json", cwd=tmp_path)
    assert made.code == 0, made.stderr
    iid = str(made.json["id"])
    shown = opsbook("incident", "show", iid, "--json", cwd=tmp_path).json["escalation"]
    assert (shown["policy"], shown["level_reached"], shown["next_level"]) == ("standard", None, 1)
    up = opsbook("incident", "escalate", iid, "--as", "ana", "--json", cwd=tmp_path)
    assert up.code == 0, up.stderr
    (person,) = up.json["people"]  # whoever the rotation has on call today (the CLI reads the real clock)
    assert (up.json["level"], up.json["people"][person], up.json["receivers"]) == (
        1, "on call for primary", [f"{person}-pager"])
    human = opsbook("incident", "show", iid, cwd=tmp_path)
    assert "standard: level 1/3; level 2 at" in human.stdout and "escalated" in human.stdout
    assert opsbook("incident", "ack", iid, cwd=tmp_path).code == 0
    again = opsbook("incident", "escalate", iid, cwd=tmp_path)
    assert again.code == 2 and "does not escalate any more: acknowledged" in again.stderr
    (tmp_path / "opsbook.yaml").write_text(text.replace("oncall: [primary]", "oncall: [primray]"))
    bad = opsbook("incident", "escalate", iid, "--json", cwd=tmp_path)
    assert bad.code == 2
    err = json.dumps(bad.json)
    assert "escalation.standard.levels[0].notify.oncall[0]" in err and "did you mean 'primary'" in err



def test_the_daemon_fires_due_levels_and_one_failing_incident_is_isolated_and_logged_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    cfg = load(CONFIG % {"url": "http://127.0.0.1:9"} + "serve: {jitter: 0}\n", tmp_path)
    store = Store.open(cfg.store_url())
    bad, good = declare(store, cfg, "breaks"), declare(store, cfg, "works")
    real = escalation.targets
    tried: list[datetime] = []

    def targets(c: Config, s: Store, level: Level, now: datetime) -> tuple[dict[str, str], list[str], list[str]]:
        tried.append(now)
        if len(tried) % 2 == 1:  # the first incident of each step (the one declared first) fails
            raise RuntimeError("the on-call lookup broke")
        return real(c, s, level, now)

    monkeypatch.setattr(escalation, "targets", targets)
    sched = Scheduler(cfg, store, log=Log(stream=out), clock=lambda: T0, rng=random.Random(7))

    async def go() -> None:
        for secs in (2, 70):  # 70: the failing incident's claim (60 s) lapsed; it fails again
            await sched.tick(T0 + timedelta(seconds=secs))
            await sched.drain(30)

    asyncio.run(go())
    assert escalated(store, good) == [(1, 1)] and escalated(store, bad) == []
    assert len(tried) == 3  # bad, good, then bad again
    text = out.getvalue()
    assert text.count("the on-call lookup broke") == 1  # said once, not every 5 s
    assert f"escalated incident {good} level 1" in text
    units = {r.unit_key for r in leases.rows(store)}
    assert "escalation:step" in units
    store.close()


def test_the_api_escalates_by_hand_for_operators_only_audited_and_shows_the_ladder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    extra = """
notify:
  receivers: {team: {webhook: {url: "http://127.0.0.1:9/team"}}}
escalation:
  only-team:
    levels: [{wait: 10m, notify: {receivers: [team]}}]
incidents: {escalation: {default: only-team}}
"""
    cfg = make_config(tmp_path, extra=extra)
    store = Store.open(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        with TestClient(create_app(context(cfg, store))) as c:
            r = c.post("/api/v1/incidents", json={"title": "Checkout 502", "severity": "SEV1"},
                       headers=bearer("on-call"))
            path = f"/api/v1/incidents/{r.json()['incident']['id']}"
            shown = c.get(path, headers=bearer("developer")).json()["escalation"]
            assert (shown["policy"], shown["next_level"], shown["level_reached"]) == ("only-team", 1, None)
            page = c.get(path.replace("/api/v1", ""), headers={**bearer("developer"), "accept": "text/html"})
            assert page.status_code == 200 and "only-team: no level fired yet; level 1 at" in page.text
            assert c.post(f"{path}/escalate", headers=bearer("developer")).status_code == 403
            r = c.post(f"{path}/escalate", headers=bearer("on-call"))
            assert r.status_code == 200, r.text
            doc = r.json()
            assert (doc["level"], doc["receivers"], doc["escalation"]["stopped"]) == (1, ["team"], "exhausted")
            r = c.post(f"{path}/escalate", headers=bearer("on-call"))
            assert r.status_code == 400 and "exhausted" in r.json()["error"]["message"]
            entries = c.get("/api/v1/audit", headers=bearer("admin")).json()["entries"]
            assert [(e["action"], e["outcome"]) for e in reversed(entries) if e["action"] == "incident.escalate"] == [
                ("incident.escalate", "denied"), ("incident.escalate", "ok"), ("incident.escalate", "error 400")]
    finally:
        store.close()
