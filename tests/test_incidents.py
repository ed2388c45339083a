"""Incidents: the record, its compare-and-set lifecycle and its derived times, on both store
dialects with an injected clock; the incidents: config; the CLI's JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.incidents import Incidents
from opsbook.errors import ConfigError, ConfigErrors, IncidentConflict, InvalidTransition, UsageError
from opsbook.ops import incident
from opsbook.store import Store
from opsbook.store import incidents as rows
from tests.support.clirun import opsbook
from tests.support.helpers import load

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CFG = Incidents()


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def config_errors(text: str, tmp_path: Path) -> list[ConfigError]:
    with pytest.raises((ConfigErrors, ConfigError)) as e:
        load(text, tmp_path)
    return e.value.errors if isinstance(e.value, ConfigErrors) else [e.value]


def test_an_incident_goes_from_declared_to_closed_with_its_times_derived_from_detection(any_store: Store) -> None:
    inc = incident.declare(any_store, CFG, "API 5xx spike", "SEV2", "ana", minutes(0), components=["api", "api"],
                           summary="checkout failing", detected_at=minutes(-5))
    assert (inc.status, inc.row.components, inc.row.created_by) == ("triage", ["api"], "ana")
    incident.ack(any_store, inc.id, "bob", minutes(3))
    incident.assign(any_store, CFG, inc.id, "commander", "carol", "bob", minutes(4))
    incident.note(any_store, inc.id, "rolled back to v41", "carol", minutes(10))
    incident.move(any_store, inc.id, "mitigated", "carol", minutes(15))
    incident.move(any_store, inc.id, "resolved", "carol", minutes(55))
    done = incident.move(any_store, inc.id, "closed", "carol", minutes(120))

    shown = incident.show(any_store, inc.id)
    assert shown.row == done.row and shown.status == "closed" and not shown.is_open
    assert shown.row.commander == "carol" and shown.row.roles == {"commander": "carol"}
    # detected 11:55, acked 12:03, mitigated 12:15, resolved 12:55
    assert shown.durations() == {"time_to_acknowledge": 8 * 60.0, "time_to_mitigate": 20 * 60.0,
                                 "time_to_resolve": 60 * 60.0}
    assert [(e.kind, e.actor, e.at) for e in shown.events] == [
        ("declared", "ana", minutes(0)), ("ack", "bob", minutes(3)), ("assign", "bob", minutes(4)),
        ("note", "carol", minutes(10)), ("status", "carol", minutes(15)), ("status", "carol", minutes(55)),
        ("status", "carol", minutes(120))]
    assert shown.events[-1].detail == {"from": "resolved", "to": "closed"}
    doc = shown.to_dict()
    assert doc["time_to_resolve"] == 3600.0 and doc["closed_at"] == minutes(120).isoformat()
    assert shown.row.version == 7  # every change bumped it


def test_resolving_straight_from_triage_stamps_acknowledged_and_mitigated_once(any_store: Store) -> None:
    inc = incident.declare(any_store, CFG, "disk full", "SEV3", "ana", minutes(0))
    done = incident.move(any_store, inc.id, "resolved", "ana", minutes(7))
    assert done.row.acknowledged_at == done.row.mitigated_at == done.row.resolved_at == minutes(7)
    assert done.durations()["time_to_acknowledge"] == 7 * 60.0


@pytest.mark.parametrize(("path", "to", "now", "allowed"), [
    ((), "closed", "triage", "investigating (`incident ack`), mitigated (`incident mitigate`), resolved"),
    (("resolved",), "resolved", "resolved", "allowed next: closed (`incident close`)"),
    (("resolved", "closed"), "resolved", "closed", "none: it is finished"),
    (("cancelled",), "investigating", "cancelled", "none: it is finished"),
    (("investigating",), "investigating", "investigating", "mitigated (`incident mitigate`)"),
])
def test_a_move_the_lifecycle_does_not_allow_is_refused_naming_the_status_and_the_allowed_ones(
        any_store: Store, path: tuple[str, ...], to: str, now: str, allowed: str) -> None:
    inc = incident.declare(any_store, CFG, "x", "SEV4", "ana", minutes(0))
    for i, step in enumerate(path):
        incident.move(any_store, inc.id, step, "ana", minutes(i + 1))
    with pytest.raises(InvalidTransition) as e:
        incident.move(any_store, inc.id, to, "bob", minutes(30))
    assert e.value.exit_code == 2
    assert f"is {now};" in e.value.message and allowed in e.value.hint
    assert incident.show(any_store, inc.id).status == now  # nothing changed
    assert len(incident.show(any_store, inc.id).events) == 1 + len(path)


def test_of_two_operators_resolving_at_once_one_wins_and_the_other_is_told_who(any_store: Store) -> None:
    other = Store.open(any_store.url, migrate=False)  # a second operator's own handle
    try:
        inc = incident.declare(any_store, CFG, "db failover", "SEV1", "ana", minutes(0))
        incident.move(any_store, inc.id, "mitigated", "ana", minutes(5))
        seen_a = incident.show(any_store, inc.id).status
        seen_b = incident.show(other, inc.id).status
        won = incident.move(any_store, inc.id, "resolved", "ana", minutes(9), expected=seen_a)
        with pytest.raises(IncidentConflict) as e:
            incident.move(other, inc.id, "resolved", "bob", minutes(9), expected=seen_b)
        assert e.value.exit_code == 1
        assert "ana made it resolved" in e.value.message and "was mitigated" in e.value.message
        # the compare-and-set itself: the second UPDATE ... WHERE status = 'mitigated' matches nothing
        with other.transaction() as tx:
            assert rows.move(tx, inc.id, "mitigated", "resolved", minutes(10), "bob") is None
        after = incident.show(other, inc.id)
        assert after.row == won.row and [e.actor for e in after.events if e.kind == "status"] == ["ana", "ana"]
    finally:
        other.close()


def test_an_assignment_racing_another_change_is_a_conflict_not_a_lost_update(any_store: Store) -> None:
    inc = incident.declare(any_store, CFG, "x", "SEV2", "ana", minutes(0))
    stale = incident.show(any_store, inc.id).row.version
    incident.assign(any_store, CFG, inc.id, "scribe", "dan", "ana", minutes(1))
    with any_store.transaction() as tx:
        assert rows.assign(tx, inc.id, stale, {"commander": "bob"}, minutes(2), "bob") is None
    assert incident.show(any_store, inc.id).row.roles == {"scribe": "dan"}


def test_unknown_severity_role_or_person_is_a_usage_error_with_a_did_you_mean(any_store: Store) -> None:
    with pytest.raises(UsageError) as e:
        incident.declare(any_store, CFG, "x", "SEV5", "ana", minutes(0))
    assert e.value.exit_code == 2 and "did you mean 'SEV4'" in e.value.message and "SEV1, SEV2" in e.value.hint
    inc = incident.declare(any_store, CFG, "x", "SEV1", "ana", minutes(0))
    with pytest.raises(UsageError, match="did you mean 'commander'"):
        incident.assign(any_store, CFG, inc.id, "comander", "bob", "ana", minutes(1))
    with pytest.raises(UsageError, match="did you mean 'carol'"):
        incident.assign(any_store, CFG, inc.id, "scribe", "carl", "ana", minutes(1), people=["carol", "dan"])
    incident.assign(any_store, CFG, inc.id, "scribe", "anyone", "ana", minutes(1))  # no people: section
    with pytest.raises(UsageError, match="no incident 99"):
        incident.show(any_store, 99)


def test_list_shows_open_incidents_newest_first_and_all_of_them_with_all(any_store: Store) -> None:
    a = incident.declare(any_store, CFG, "old", "SEV3", "ana", minutes(0))
    b = incident.declare(any_store, CFG, "new", "SEV2", "ana", minutes(60))
    incident.move(any_store, a.id, "cancelled", "ana", minutes(61), reason="false alarm")
    assert [i.id for i in incident.list_incidents(any_store, open_only=True, since=None)] == [b.id]
    assert [i.id for i in incident.list_incidents(any_store, open_only=False, since=None)] == [b.id, a.id]
    assert [i.id for i in incident.list_incidents(any_store, open_only=False, since=minutes(30))] == [b.id]
    assert incident.show(any_store, a.id).events[-1].detail["reason"] == "false alarm"


def test_teams_may_rename_severities_and_an_unknown_one_in_the_policy_is_a_config_error(tmp_path: Path) -> None:
    cfg = load("""
        version: 1
        incidents:
          severities:
            - {name: P1, description: everything is down, respond_within: 5m}
            - {name: P2}
          roles: [commander, comms]
          postmortem: {required_for: [P1], due: 3d}
    """, tmp_path)
    inc = cfg.model.incidents
    assert inc.severity_names == ["P1", "P2"] and inc.severities[0].respond_within == 300.0
    assert inc.postmortem.due == 3 * 86400.0
    (err,) = config_errors("""
        version: 1
        incidents:
          severities: [{name: P1}, {name: P2}]
          postmortem: {required_for: [P1, P22]}
    """, tmp_path)
    assert err.path == "incidents.postmortem.required_for[1]" and "did you mean 'P2'" in err.message


def test_the_default_severities_are_the_runbooks_sev1_to_sev4() -> None:
    assert [(s.name, s.respond_within) for s in CFG.severities] == [
        ("SEV1", 900.0), ("SEV2", 3600.0), ("SEV3", 14400.0), ("SEV4", None)]
    assert CFG.severities[0].description == "complete outage, data loss risk"
    assert CFG.postmortem_required_for == ["SEV1", "SEV2"] and CFG.postmortem.due == 48 * 3600.0
    renamed = Incidents.model_validate({"severities": [{"name": n} for n in ("P1", "P2", "P3")]})
    assert renamed.postmortem_required_for == ["P1", "P2"]  # the default follows a renamed ladder


def test_roles_must_include_a_commander_and_names_appear_once(tmp_path: Path) -> None:
    errs = config_errors("""
        version: 1
        incidents:
          severities: [{name: P1}, {name: P1}]
          roles: [lead, lead]
    """, tmp_path)
    assert sorted(e.message.split(": ", 1)[1] for e in errs) == [
        "role 'lead' is listed twice", "roles must include 'commander'", "severity 'P1' is listed twice"]


def test_the_cli_declares_acks_and_resolves_with_json_documents_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    env = {"USER": "ana"}
    r = opsbook("incident", "declare", "API down", "--severity", "SEV1", "--component", "api", "--json",
                cwd=tmp_path, env=env)
    assert r.code == 0, r.text
    doc = r.json
    assert doc["schema"] == "opsbook.incident/1" and doc["status"] == "triage" and doc["created_by"] == "ana"
    n = str(doc["id"])
    assert opsbook("incident", "ack", n, "--as", "bob", "--json", cwd=tmp_path).json["acknowledged_at"]
    r = opsbook("incident", "close", n, "--json", cwd=tmp_path)
    assert r.code == 2 and r.json["error"]["type"] == "InvalidTransition"
    assert "mitigated" in r.json["error"]["hint"]
    assert opsbook("incident", "resolve", n, "--json", cwd=tmp_path).json["status"] == "resolved"
    r = opsbook("incident", "list", "--all", "--since", "30d", "--json", cwd=tmp_path)
    assert r.json["schema"] == "opsbook.incidents/1" and [i["status"] for i in r.json["incidents"]] == ["resolved"]
    r = opsbook("incident", "declare", "x", "--severity", "sev1", cwd=tmp_path)
    assert r.code == 2 and "did you mean 'SEV1'" in r.text
    shown = opsbook("incident", "show", n, cwd=tmp_path)
    assert shown.code == 0 and "investigating -> resolved" in shown.stdout and "bob" in shown.stdout


def test_on_postgresql_a_resolver_blocked_behind_another_loses_the_compare_and_set_cleanly(
        any_store: Store) -> None:
    """A real race: B read `mitigated` and its UPDATE waits on A's row lock; when A commits,
    B's WHERE status = 'mitigated' no longer holds, so B gets the conflict naming A."""
    if any_store.dialect != "postgresql":
        pytest.skip("SQLite serializes writers at BEGIN IMMEDIATE: B then sees the move as invalid")
    import threading
    import time

    other = Store.open(any_store.url, migrate=False)
    watcher = Store.open(any_store.url, migrate=False)
    try:
        inc = incident.declare(any_store, CFG, "db failover", "SEV1", "ana", minutes(0))
        incident.move(any_store, inc.id, "mitigated", "ana", minutes(5))
        outcome: list[BaseException | incident.Incident] = []

        def b() -> None:
            try:
                outcome.append(incident.move(other, inc.id, "resolved", "bob", minutes(9)))
            except BaseException as e:  # handed to the test thread
                outcome.append(e)

        with any_store.transaction() as tx:
            assert rows.move(tx, inc.id, "mitigated", "resolved", minutes(9), "ana") is not None
            rows.add_event(tx, inc.id, minutes(9), "status", "ana", {"from": "mitigated", "to": "resolved"})
            t = threading.Thread(target=b)
            t.start()
            deadline = time.monotonic() + 10
            while True:  # until B's UPDATE is waiting on our row lock
                with watcher.read() as w:
                    row = w.one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database()")
                if (row and row[0]) or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        t.join(10)
        (got,) = outcome
        assert isinstance(got, IncidentConflict) and "ana made it resolved" in got.message
        assert [e.actor for e in incident.show(any_store, inc.id).events if e.kind == "status"] == ["ana", "ana"]
    finally:
        other.close()
        watcher.close()
