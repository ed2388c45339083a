"""Editing, merging and closing incidents (docs/incidents.md "Editing", "Merging", "Closing and the
post-mortem"): compare-and-set on both store dialects with an injected clock, an event per change,
and bad input refused with nothing changed; the CLI's JSON and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.incidents import Incidents
from opsbook.errors import IncidentConflict, InvalidTransition, PostmortemMissing, UsageError
from opsbook.ops import incident, incident_edit
from opsbook.store import Store
from tests.support.clirun import opsbook

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CFG = Incidents()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def declare(store: Store, title: str = "API down", severity: str = "SEV2", when: float = 0) -> int:
    return incident.declare(store, CFG, title, severity, "ana", at(when)).id


def kinds(store: Store, iid: int) -> list[str]:
    return [e.kind for e in incident.show(store, iid).events]


# -- edit --------------------------------------------------------------------------------------------


def test_an_edit_changes_severity_title_and_summary_with_one_event_per_field(any_store: Store) -> None:
    iid = declare(any_store)
    got = incident_edit.edit(any_store, CFG, iid, "bob", at(5), severity="SEV1", title="Checkout down",
                             summary="card payments fail", expected_version=1)
    r = got.row
    assert (r.severity, r.title, r.summary, r.version, r.updated_by) == (
        "SEV1", "Checkout down", "card payments fail", 2, "bob")
    edits = [e.detail for e in got.events if e.kind == "edit"]
    assert edits == [{"field": "severity", "from": "SEV2", "to": "SEV1"},
                     {"field": "title", "from": "API down", "to": "Checkout down"},
                     {"field": "summary", "from": "", "to": "card payments fail"}]
    same = incident_edit.edit(any_store, CFG, iid, "bob", at(6), severity="SEV1")  # no change: no event
    assert same.row.version == 2 and kinds(any_store, iid).count("edit") == 3


def test_an_edit_from_a_stale_version_is_a_conflict_and_changes_nothing(any_store: Store) -> None:
    iid = declare(any_store)
    incident.note(any_store, iid, "looking", "bob", at(1))  # version 2 now
    with pytest.raises(IncidentConflict, match="you saw version 1, it is at 2") as e:
        incident_edit.edit(any_store, CFG, iid, "ana", at(2), severity="SEV1", expected_version=1)
    assert e.value.exit_code == 1
    assert incident.show(any_store, iid).row.severity == "SEV2" and "edit" not in kinds(any_store, iid)


def test_an_unknown_severity_or_an_empty_edit_is_a_usage_error_and_changes_nothing(any_store: Store) -> None:
    iid = declare(any_store)
    with pytest.raises(UsageError, match="did you mean 'SEV1'") as e:
        incident_edit.edit(any_store, CFG, iid, "ana", at(1), severity="sev1")
    assert e.value.exit_code == 2
    with pytest.raises(UsageError, match="nothing to change"):
        incident_edit.edit(any_store, CFG, iid, "ana", at(1))
    with pytest.raises(UsageError, match="needs a title"):
        incident_edit.edit(any_store, CFG, iid, "ana", at(1), title="  ")
    assert incident.show(any_store, iid).row.version == 1 and kinds(any_store, iid) == ["declared"]


# -- merge -------------------------------------------------------------------------------------------


def test_a_merged_incident_is_finished_points_at_the_survivor_and_both_record_it(any_store: Store) -> None:
    dup, main = declare(any_store, "API 5xx"), declare(any_store, "Checkout down", when=1)
    got = incident_edit.merge(any_store, dup, main, "bob", at(5), reason="same outage")
    assert (got.status, got.row.merged_into, got.row.closed_at, got.is_open) == ("merged", main, at(5), False)
    assert got.to_dict()["merged_into"] == main
    assert got.events[-1].detail == {"from": "triage", "to": "merged", "into": main, "reason": "same outage"}
    survivor = incident.show(any_store, main)
    assert survivor.events[-1].kind == "merge" and survivor.events[-1].detail["merged"] == dup
    with pytest.raises(InvalidTransition):  # merged is terminal: no move out of it
        incident.move(any_store, dup, "resolved", "bob", at(6))


def test_merging_into_itself_a_finished_incident_or_back_into_a_merged_one_is_refused(any_store: Store) -> None:
    a, b, c = declare(any_store, "a"), declare(any_store, "b"), declare(any_store, "c")
    with pytest.raises(UsageError, match="cannot be merged into itself") as e:
        incident_edit.merge(any_store, a, a, "bob", at(1))
    assert e.value.exit_code == 2
    incident.move(any_store, c, "cancelled", "bob", at(1))
    with pytest.raises(InvalidTransition, match=f"incident {c} is cancelled; nothing can be merged into it"):
        incident_edit.merge(any_store, a, c, "bob", at(2))
    incident_edit.merge(any_store, a, b, "bob", at(3))
    with pytest.raises(InvalidTransition, match="would make a cycle"):
        incident_edit.merge(any_store, b, a, "bob", at(4))
    with pytest.raises(InvalidTransition, match="only an unfinished one can be merged"):
        incident_edit.merge(any_store, a, b, "bob", at(4))
    with pytest.raises(UsageError, match="no incident 99"):
        incident_edit.merge(any_store, b, 99, "bob", at(4))
    assert incident.show(any_store, b).status == "triage" and kinds(any_store, b) == ["declared", "merge"]


# -- close and the post-mortem -----------------------------------------------------------------------


def test_closing_a_sev1_without_its_post_mortem_is_refused_naming_the_due_time_and_the_command(
        any_store: Store) -> None:
    iid = declare(any_store, severity="SEV1")
    incident.move(any_store, iid, "resolved", "bob", at(30))
    with pytest.raises(PostmortemMissing) as e:
        incident_edit.close(any_store, CFG, iid, "bob", at(40))
    assert e.value.exit_code == 1
    assert (at(30) + timedelta(hours=48)).isoformat() in e.value.message
    assert f"opsbook incident postmortem {iid} --out FILE" in e.value.hint and "--without-postmortem" in e.value.hint
    assert incident.show(any_store, iid).status == "resolved"
    incident_edit.record_postmortem(any_store, iid, "bob", at(50), file="/tmp/pm.md")
    closed = incident_edit.close(any_store, CFG, iid, "bob", at(60))
    assert closed.status == "closed" and [e.kind for e in closed.events][-2:] == ["postmortem", "status"]


def test_closing_without_a_post_mortem_records_the_reason_and_a_sev3_needs_none(any_store: Store) -> None:
    sev1, sev3 = declare(any_store, severity="SEV1"), declare(any_store, severity="SEV3")
    for iid in (sev1, sev3):
        incident.move(any_store, iid, "resolved", "bob", at(10))
    with pytest.raises(UsageError, match="needs a reason"):
        incident_edit.close(any_store, CFG, sev1, "bob", at(20), without_postmortem=" ")
    got = incident_edit.close(any_store, CFG, sev1, "bob", at(20), without_postmortem="false alarm")
    waived = next(e for e in got.events if e.kind == "postmortem_waived")
    assert got.status == "closed" and waived.detail == {"reason": "false alarm"} and waived.actor == "bob"
    assert incident_edit.close(any_store, CFG, sev3, "bob", at(20)).status == "closed"
    assert "postmortem_waived" not in kinds(any_store, sev3)
    open_one = declare(any_store, severity="SEV1")
    with pytest.raises(InvalidTransition, match="it cannot be moved to closed"):
        incident_edit.close(any_store, CFG, open_one, "bob", at(20))


# -- the CLI -----------------------------------------------------------------------------------------


def test_the_cli_edits_merges_and_closes_with_json_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        r = opsbook("incident", *args, "--json", cwd=tmp_path, env={"USER": "ana"})
        return r.code, r.json

    code, a = run("declare", "API down", "--severity", "SEV2")
    assert code == 0
    ida, v = str(a["id"]), a["version"]
    code, doc = run("edit", ida, "--severity", "sev1")
    assert code == 2 and "did you mean 'SEV1'" in doc["error"]["message"]
    code, doc = run("edit", ida, "--severity", "SEV1", "--title", "Checkout down", "--expect-version", str(v))
    assert code == 0 and (doc["severity"], doc["title"], doc["version"]) == ("SEV1", "Checkout down", v + 1)
    assert [e["kind"] for e in doc["events"]] == ["declared", "edit", "edit"]
    code, doc = run("edit", ida, "--summary", "x", "--expect-version", str(v))
    assert code == 1 and doc["error"]["type"] == "IncidentConflict"

    code, doc = run("merge", ida, "--into", ida)
    assert code == 2 and "into itself" in doc["error"]["message"]
    _, b = run("declare", "API 5xx", "--severity", "SEV3")
    code, doc = run("merge", str(b["id"]), "--into", ida, "--reason", "same outage")
    assert code == 0 and (doc["status"], doc["merged_into"]) == ("merged", int(ida))

    assert run("resolve", ida)[0] == 0
    code, doc = run("close", ida)
    assert code == 1 and doc["error"]["type"] == "PostmortemMissing"
    assert f"opsbook incident postmortem {ida} --out FILE" in doc["error"]["hint"]
    pm = tmp_path / "pm.md"
    r = opsbook("incident", "postmortem", ida, "--out", str(pm), cwd=tmp_path)
    assert r.code == 0 and pm.is_file()
    code, doc = run("close", ida)
    assert code == 0 and doc["status"] == "closed"
    assert [e["detail"] for e in doc["events"] if e["kind"] == "postmortem"] == [{"file": str(pm.resolve())}]
    shown = opsbook("incident", "show", ida, cwd=tmp_path)
    assert "severity: 'SEV2' -> 'SEV1'" in shown.stdout and "post-mortem written to" in shown.stdout


def test_a_merged_incident_is_counted_in_stats_but_left_out_of_the_means(any_store: Store) -> None:
    from opsbook.ops import incident_stats

    dup, main = declare(any_store, "dup"), declare(any_store, "main")
    incident.ack(any_store, dup, "bob", at(50))  # a slow ack on the duplicate would skew the mean
    incident.ack(any_store, main, "bob", at(10))
    incident_edit.merge(any_store, dup, main, "bob", at(60))
    (sev2,) = [s for s in incident_stats.compute(any_store, CFG, None, at(90)).by_severity if s.count]
    assert (sev2.count, sev2.cancelled, sev2.open, sev2.mtta) == (2, 1, 1, 600.0)
