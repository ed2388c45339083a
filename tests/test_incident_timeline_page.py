"""What the incident page reads, on both store dialects: the whole timeline's size counted in SQL
matches the entries assembled; the page's bounded read holds the newest entries and events; a
notification keeps its title, its failure and its delivery; a flip back to pass carries no
result document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsbook.config.assertions import Outcome
from opsbook.config.incidents import Incidents
from opsbook.ops import incident, timeline
from opsbook.results import CheckResult
from opsbook.store import Store, alerts, checks, outbox, silences

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def an_incident_with_every_source(store: Store) -> int:
    for m in range(-30, 20):  # fails from +0 to +9: two flips in the window
        bad = 0 <= m < 10
        store.record_results([CheckResult(
            name="api", kind="http", status="fail" if bad else "pass", summary="", started_at=minutes(m),
            finished_at=minutes(m), duration_ms=1.0, env="", observations={"body": "x" * 2000},
            assertions=[Outcome("status == 200", not bad, 503 if bad else 200, "== 200")])])
    with store.transaction() as tx:
        alerts.add_transitions(tx, "", minutes(2), [("fp", "api-down", "pending", "firing", 1.0, "")])
        for k, fail in ((1, False), (2, True)):
            outbox.enqueue(tx, dedup_key=f"n{k}", group_key="g", receiver="ops", kind="firing",
                           payload={"title": f"api down {k}", "body": "long"}, now=minutes(3 + k))
            row = outbox.rows(tx, status=outbox.PENDING, limit=1)[0]
            assert outbox.claim(tx, row.id, "w", minutes(3 + k), 60)
            if fail:
                outbox.failed(tx, row, "w", {"message": "connection refused"}, minutes(4 + k), None)
            else:
                outbox.delivered(tx, row, "w", {"status": 200}, minutes(4 + k))
        silences.insert(tx, silences.SilenceRow("s1", [{"name": "rule", "value": "api-down"}], "ana", "deploy",
                                                minutes(6), minutes(8), minutes(6), None))
    inc = incident.declare(store, Incidents(), "API down", "SEV2", "ana", minutes(1), detected_at=minutes(0))
    for k in range(5):
        incident.note(store, inc.id, f"note {k}", "bob", minutes(7 + k / 10))
    incident.move(store, inc.id, "resolved", "bob", minutes(12))
    return inc.id


def test_the_counted_size_matches_the_assembled_timeline_and_the_page_holds_its_newest_entries(
        any_store: Store) -> None:
    iid = an_incident_with_every_source(any_store)
    row = incident.show(any_store, iid).row
    whole = timeline.for_incident(any_store, row, minutes(60))
    kinds = [e.kind for e in whole.entries]
    assert kinds.count("check.fail") == kinds.count("check.pass") == 1
    assert {"alert.firing", "notification.queued", "notification.delivered", "notification.dead",
            "silence.created", "silence.ended"} <= set(kinds)
    with any_store.read() as tx:
        assert timeline.count(tx, row, minutes(60)) == len(whole.entries) == 16
    page = timeline.page(any_store, iid, minutes(60), 4, 3)
    assert page.timeline.entries == whole.entries[-4:] and page.timeline.truncated
    assert page.entries_total == len(whole.entries) and page.events_total == 7  # declared, 5 notes, resolved
    assert [e.kind for e in page.incident.events] == ["note", "note", "status"]
    assert page.incident.row == row


def test_a_notification_keeps_its_title_and_error_and_a_recovery_flip_carries_no_result(any_store: Store) -> None:
    iid = an_incident_with_every_source(any_store)
    row = incident.show(any_store, iid).row
    summaries = {e.kind: e.summary for e in timeline.for_incident(any_store, row, minutes(60)).entries}
    assert summaries["notification.delivered"] == "to ops: api down 1"
    assert summaries["notification.dead"] == "to ops (attempt 1): connection refused"
    assert "status == 200 (actual: 503, expected: == 200)" in summaries["check.fail"]
    with any_store.read() as tx:
        flips = {f.to_status: f for f in checks.flips_between(tx, minutes(-15), minutes(12), 10)}
    assert flips["pass"].result is None and flips["pass"].result_id is not None
    assert flips["fail"].result is not None and set(flips["fail"].result) == {"assertions", "error"}
