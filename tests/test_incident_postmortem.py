"""Post-incident work: the timeline assembled from what the store knows about an incident's
window, the incident's action items, the post-mortem draft and incident statistics, on both store dialects with an
injected clock, and through the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.assertions import Outcome
from opsbook.config.incidents import Incidents
from opsbook.errors import IncidentConflict, UsageError
from opsbook.ops import incident, incident_action, incident_stats, postmortem, timeline
from opsbook.render.postmortem import markdown
from opsbook.results import CheckResult, Status
from opsbook.store import Store, alerts, runs
from tests.support.clirun import opsbook
from tests.support.helpers import load

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CFG = Incidents()


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def result(status: Status, at: datetime) -> CheckResult:
    code = 200 if status == "pass" else 503
    return CheckResult(name="api-health", kind="http", status=status, summary=f"HTTP {code}", started_at=at,
                       finished_at=at, duration_ms=20.0, env="prod", observations={"status": code},
                       assertions=[Outcome("status == 200", code == 200, code, "== 200")])


def an_outage(store: Store) -> int:
    """The check passes each minute from -30, fails from +0 to +9, passes again; the alert fires at
    +2; the incident is declared at +3 (detected at +0), acked at +5, resolved at +12."""
    for m in range(-30, 20):
        store.record_results([result("fail" if 0 <= m < 10 else "pass", minutes(m))])
    with store.transaction() as tx:
        alerts.add_transitions(tx, "prod", minutes(1), [("fp1", "api-down", "inactive", "pending", 1.0, "")])
        alerts.add_transitions(tx, "prod", minutes(2), [("fp1", "api-down", "pending", "firing", 1.0, "api 503")])
        runs.record(tx, "backup", "nightly", ok=True, status="ok", started_at=minutes(-60), finished_at=minutes(-59),
                    detail=None, env="prod")  # before the window: left out
        runs.record(tx, "drill", "restore", ok=False, status="failed", started_at=minutes(7), finished_at=minutes(8),
                    detail=None, env="prod")
    inc = incident.declare(store, CFG, "API returns 503", "SEV2", "ana", minutes(3), components=["api"],
                           detected_at=minutes(0))
    incident.ack(store, inc.id, "bob", minutes(5))
    incident.move(store, inc.id, "resolved", "bob", minutes(12))
    return inc.id


def test_the_timeline_holds_the_flip_with_its_failing_assertion_the_alert_and_the_ack_in_order(
        any_store: Store) -> None:
    n = an_outage(any_store)
    row = incident.show(any_store, n).row
    tl = timeline.for_incident(any_store, row, minutes(60))
    assert (tl.start, tl.end, tl.truncated) == (minutes(-15), minutes(12), False)
    got = [(e.at, e.kind) for e in tl.entries]
    assert got == [
        (minutes(0), "check.fail"), (minutes(1), "alert.pending"), (minutes(2), "alert.firing"),
        (minutes(3), "incident.declared"), (minutes(5), "incident.ack"), (minutes(7), "run.drill"),
        (minutes(10), "check.pass"), (minutes(12), "incident.status")]
    flip = tl.entries[0]
    assert "api-health [prod] pass -> fail" in flip.summary and "status == 200 (actual: 503" in flip.summary
    assert flip.ref.startswith("check_flips:")
    assert tl.entries[4].summary == "bob: triage -> investigating"
    assert tl.entries[5].summary.startswith("drill restore [prod]: failed")


def test_a_bounded_timeline_keeps_the_newest_entries_and_says_it_was_truncated(any_store: Store) -> None:
    n = an_outage(any_store)
    row = incident.show(any_store, n).row
    tl = timeline.for_incident(any_store, row, minutes(60), limit=3)
    assert tl.truncated and len(tl.entries) == 3
    assert tl.entries[-1].kind == "incident.status"


def test_an_open_incident_s_timeline_runs_to_now(any_store: Store) -> None:
    inc = incident.declare(any_store, CFG, "slow", "SEV3", "ana", minutes(0))
    tl = timeline.for_incident(any_store, inc.row, minutes(30))
    assert (tl.start, tl.end) == (minutes(-15), minutes(30))
    assert [e.kind for e in tl.entries] == ["incident.declared"]


def test_incident_show_carries_the_timeline_in_json_and_in_its_table(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    r = opsbook("incident", "declare", "API down", "--severity", "SEV1", "--as", "ana", "--json", cwd=tmp_path)
    n = str(r.json["id"])
    opsbook("incident", "ack", n, "--as", "bob", cwd=tmp_path)
    doc = opsbook("incident", "show", n, "--json", cwd=tmp_path).json
    assert [e["kind"] for e in doc["timeline"]] == ["incident.declared", "incident.ack"]
    assert set(doc["timeline"][0]) == {"at", "kind", "summary", "ref"} and doc["timeline_truncated"] is False
    shown = opsbook("incident", "show", n, cwd=tmp_path)
    assert shown.code == 0 and "timeline" in shown.stdout and "incident.ack" in shown.stdout


def test_action_items_are_added_finished_once_and_shown_in_the_incident_s_timeline(any_store: Store) -> None:
    n = an_outage(any_store)
    a = incident_action.add(any_store, n, "alert on the 5xx rate", "ana", minutes(30), owner="bob",
                            due=date(2026, 3, 5))
    b = incident_action.add(any_store, n, "write the runbook", "ana", minutes(31))
    assert (a.row.status, a.row.owner, a.row.due, b.row.due) == ("open", "bob", date(2026, 3, 5), None)
    assert a.overdue(date(2026, 3, 6)) and not a.overdue(date(2026, 3, 5)) and not b.overdue(date(2027, 1, 1))
    done = incident_action.done(any_store, n, a.row.id, "bob", minutes(40))
    assert (done.row.status, done.row.done_by, done.row.done_at) == ("done", "bob", minutes(40))
    with pytest.raises(IncidentConflict, match="already done: bob finished it"):
        incident_action.done(any_store, n, a.row.id, "carol", minutes(41))
    assert [x.row.id for x in incident_action.listing(any_store, n)] == [a.row.id, b.row.id]
    assert [x.row.id for x in incident_action.listing(any_store, None, open_only=True)] == [b.row.id]
    other = incident.declare(any_store, CFG, "other", "SEV4", "ana", minutes(50))
    with pytest.raises(UsageError, match=f"incident {other.id} has no action item {a.row.id}"):
        incident_action.done(any_store, other.id, a.row.id, "bob", minutes(51))
    with pytest.raises(UsageError, match="no person named 'bbo'"):
        incident_action.add(any_store, n, "x", "ana", minutes(52), owner="bbo", people=["bob", "ana"])
    events = [(e.kind, e.detail.get("done")) for e in incident.show(any_store, n).events if e.kind == "action"]
    assert events == [("action", False), ("action", False), ("action", True)]


def test_the_action_commands_add_finish_and_list_with_json_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    n = str(opsbook("incident", "declare", "API down", "--severity", "SEV1", "--json", cwd=tmp_path).json["id"])
    r = opsbook("incident", "action", "add", n, "add a 5xx alert", "--owner", "ana", "--due", "2026-03-15",
                "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    item = r.json["actions"][0]
    assert r.json["schema"] == "opsbook.incident-actions/1" and (item["owner"], item["due"]) == ("ana", "2026-03-15")
    assert opsbook("incident", "action", "add", n, "x", "--due", "soon", cwd=tmp_path).code == 2
    aid = str(item["id"])
    assert opsbook("incident", "action", "done", n, aid, "--as", "ana", "--json", cwd=tmp_path).json[
        "actions"][0]["status"] == "done"
    r = opsbook("incident", "action", "done", n, aid, "--json", cwd=tmp_path)
    assert r.code == 1 and "already done" in r.json["error"]["message"]
    assert opsbook("incident", "action", "list", "--json", cwd=tmp_path).json["actions"] == []
    shown = opsbook("incident", "action", "list", n, cwd=tmp_path)
    assert shown.code == 0 and "add a 5xx alert" in shown.stdout
    assert opsbook("incident", "action", "list", "99", cwd=tmp_path).code == 2


CONFIG = """
environments: {prod: {}}
checks:
  api-health: {command: {run: "true"}}
slos:
  api-availability:
    objective: 90%
    window: 30d
    check: api-health
"""


def test_the_post_mortem_holds_the_failing_assertion_the_ack_time_and_the_budget_spent(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    n = an_outage(any_store)
    incident_action.add(any_store, n, "alert on the 5xx rate", "ana", minutes(30), owner="bob")
    pm = postmortem.build(cfg, any_store, n, minutes(60))
    doc = pm.to_dict()
    assert doc["schema"] == "opsbook.postmortem/1" and doc["duration"] == 12 * 60.0
    assert doc["required"] and doc["due_at"] == (minutes(12) + timedelta(hours=48)).isoformat()  # SEV2, 48h
    # the window is (-15, +12]: results at -14..+12, of which +0..+9 failed
    [failed] = doc["impact"]["failed_checks"]
    assert (failed["check"], failed["env"], failed["results"], failed["bad"]) == ("api-health", "prod", 27, 10)
    assert failed["failing_assertions"] == ["status == 200 (actual: 503, expected: == 200)"]
    # by hand: 10 bad in the window over the budget of the 30 days ending at +12 (43 results, -30..+12)
    [slo] = doc["impact"]["slos"]
    by_hand = 10 / ((1 - 0.9) * 43)
    assert slo["consumed"] == pytest.approx(by_hand) and slo["incident_events"]["bad"] == 10
    assert slo["slo_window_events"]["total"] == 43
    md = markdown(doc)
    assert "status == 200 (actual: 503, expected: == 200)" in md
    assert f"| acknowledged | {minutes(5).isoformat()} |" in md and "| time to acknowledge | 5m |" in md
    assert f"{by_hand:.2%}" in md and "alert on the 5xx rate" in md
    for section in ("## Root cause", "## What went well", "## What went wrong", "## Lessons", "## Timeline"):
        assert section in md
    kinds = [e["kind"] for e in doc["timeline"]["entries"]]
    assert kinds.index("check.fail") < kinds.index("alert.firing") < kinds.index("incident.ack")


def test_a_template_gets_the_generated_sections_in_its_placeholders() -> None:
    doc_md = "# {{title}} ({{severity}})\n\n{{impact}}\n\nOur own section.\n{{unknown}}\n"
    doc = {"incident": {"id": 1, "title": "T", "severity": "SEV1", "status": "resolved"}, "duration": 60.0,
           "generated_at": "now", "required": False, "due_at": None,
           "impact": {"components": ["api"], "failed_checks": [], "slos": []},
           "timeline": {"start": "a", "end": "b", "truncated": False, "entries": []}, "actions": []}
    doc["incident"].update({"commander": None, "roles": {}, "time_to_acknowledge": None, "time_to_mitigate": None,
                            "time_to_resolve": 60.0, **{f"{s}_at": None for s in
                                                        ("detected", "declared", "acknowledged", "mitigated",
                                                         "resolved", "closed")}})
    md = markdown(doc, doc_md)
    assert md.startswith("# T (SEV1)\n\nComponents: api") and "Our own section." in md and "{{unknown}}" in md


def test_the_postmortem_command_writes_a_private_file_checks_its_template_and_emits_json(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\nincidents:\n  postmortem:\n    template: pm.md\n")
    r = opsbook("incident", "list", cwd=tmp_path)
    assert r.code == 2 and "incidents.postmortem.template" in r.text and "not found" in r.text
    (tmp_path / "pm.md").write_text("# PM {{id}}: {{title}}\n\n{{summary}}\n\n## Root cause\n")
    n = str(opsbook("incident", "declare", "API down", "--severity", "SEV1", "--json", cwd=tmp_path).json["id"])
    opsbook("incident", "ack", n, cwd=tmp_path)
    r = opsbook("incident", "postmortem", n, "--out", "pm.md/x.md", cwd=tmp_path)  # pm.md is a file
    assert r.code == 3 and "cannot write the post-mortem to pm.md/x.md" in r.text
    r = opsbook("incident", "postmortem", n, "--out", "pm/pm-1.md", "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    assert r.json["schema"] == "opsbook.postmortem/1" and r.json["written"] == "pm/pm-1.md"
    written = tmp_path / "pm" / "pm-1.md"
    assert (written.stat().st_mode & 0o777) == 0o600 and (written.parent.stat().st_mode & 0o777) == 0o700
    assert written.read_text().startswith(f"# PM {n}: API down\n\n- **Severity:** SEV1")
    r = opsbook("incident", "postmortem", n, cwd=tmp_path)
    assert r.code == 0 and "| acknowledged |" in r.stdout
    assert opsbook("incident", "postmortem", "99", cwd=tmp_path).code == 2


def test_stats_count_incidents_and_average_ack_and_resolve_times_by_severity(any_store: Store) -> None:
    def one(sev: str, at: float, ack: float | None, resolve: float | None, cancel: bool = False) -> None:
        inc = incident.declare(any_store, CFG, f"{sev} at {at}", sev, "ana", minutes(at))
        if ack is not None:
            incident.ack(any_store, inc.id, "bob", minutes(at + ack))
        if resolve is not None:
            incident.move(any_store, inc.id, "resolved", "bob", minutes(at + resolve))
        if cancel:
            incident.move(any_store, inc.id, "cancelled", "bob", minutes(at + 1))

    one("SEV1", -200 * 24 * 60, 1, 10)  # declared before the period: not counted
    one("SEV1", 0, 2, 30)
    one("SEV1", 100, 4, 90)
    one("SEV2", 200, 10, None)  # open, acknowledged
    one("SEV2", 300, None, None, cancel=True)  # cancelled: counted, left out of the means
    st = incident_stats.compute(any_store, CFG, minutes(-90 * 24 * 60), minutes(1000))
    doc = st.to_dict()
    assert doc["schema"] == "opsbook.incident-stats/1" and not doc["truncated"]
    by = {s["severity"]: s for s in doc["severities"]}
    assert list(by) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert (by["SEV1"]["count"], by["SEV1"]["mtta_seconds"], by["SEV1"]["mttr_seconds"]) == (2, 3 * 60.0, 60 * 60.0)
    assert (by["SEV2"]["count"], by["SEV2"]["open"], by["SEV2"]["cancelled"]) == (2, 1, 1)
    assert (by["SEV2"]["mtta_seconds"], by["SEV2"]["mttr_seconds"]) == (10 * 60.0, None)
    assert by["SEV3"] == {"severity": "SEV3", "count": 0, "open": 0, "cancelled": 0, "acknowledged": 0,
                          "resolved": 0, "mtta_seconds": None, "mttr_seconds": None}
    assert doc["total"]["count"] == 4 and doc["total"]["mtta_seconds"] == (2 + 4 + 10) / 3 * 60
    assert incident_stats.compute(any_store, CFG, None, minutes(1000), limit=2).truncated


def test_the_stats_command_prints_a_table_and_json(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    n = str(opsbook("incident", "declare", "API down", "--severity", "SEV1", "--json", cwd=tmp_path).json["id"])
    opsbook("incident", "resolve", n, cwd=tmp_path)
    r = opsbook("incident", "stats", "--since", "30d", "--json", cwd=tmp_path)
    assert r.code == 0 and r.json["total"]["count"] == 1 and r.json["severities"][0]["resolved"] == 1
    r = opsbook("incident", "stats", cwd=tmp_path)
    assert r.code == 0 and "MTTR" in r.stdout and "SEV1" in r.stdout
    assert opsbook("incident", "stats", "--since", "soon", cwd=tmp_path).code == 2
