"""The timeline's fast reads (plain tuples, fields read out of the documents in SQL, each distinct
failure described once) say what the whole documents said, on both store dialects: odd documents
too (a note whose text is not a string, a failure without a message or with a null one), and
flips that fail the same way, or differently, each name their own failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsbook.config.assertions import Outcome
from opsbook.config.incidents import Incidents
from opsbook.ops import incident, timeline
from opsbook.results import CheckResult
from opsbook.store import Store, outbox
from opsbook.store import incidents as incident_rows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def result(m: int, actual: int | None) -> CheckResult:
    bad = actual is not None
    return CheckResult(name="api", kind="http", status="fail" if bad else "pass", summary="GET", started_at=minutes(m),
                       finished_at=minutes(m), duration_ms=1.0, env="", observations={},
                       assertions=[Outcome("status == 200", not bad, actual or 200, "== 200")])


def test_odd_documents_read_as_the_whole_documents_said(any_store: Store) -> None:
    inc = incident.declare(any_store, Incidents(), "API down", "SEV2", "ana", minutes(1), detected_at=minutes(0))
    with any_store.transaction() as tx:
        incident_rows.add_event(tx, inc.id, minutes(2), "note", "bob", {"text": None})
        incident_rows.add_event(tx, inc.id, minutes(3), "note", "bob", {"text": 42})
        incident_rows.add_event(tx, inc.id, minutes(4), "note", "bob", {"text": "plain"})
        for k, error in enumerate(({"message": None}, {"code": 5}, {"message": 7}, {"message": "refused"})):
            outbox.enqueue(tx, dedup_key=f"n{k}", group_key="grp", receiver="ops", kind="firing",
                           payload={} if k == 0 else {"title": f"t{k}"}, now=minutes(5 + k))
            row = outbox.rows(tx, status=outbox.PENDING, limit=1)[0]
            assert outbox.claim(tx, row.id, "w", minutes(5 + k), 60)
            outbox.failed(tx, row, "w", error, minutes(5.5 + k), None)
    row = incident.show(any_store, inc.id).row
    summaries = [e.summary for e in timeline.for_incident(any_store, row, minutes(20)).entries]
    assert [s for s in summaries if s.startswith("bob")] == ["bob: None", "bob: 42", "bob: plain"]
    assert "firing to ops: grp" in summaries  # no title: the group key
    failed = [s for s in summaries if "(attempt" in s]
    assert failed == ["to ops (attempt 1): None", "to ops (attempt 1): ", "to ops (attempt 1): 7",
                      "to ops (attempt 1): refused"]


def test_flips_that_fail_alike_or_differently_each_name_their_own_failure(any_store: Store) -> None:
    # fail 503, pass, fail 503, pass, fail 502: three failing flips, two distinct failures
    for m, actual in enumerate((503, None, 503, None, 502)):
        any_store.record_results([result(m, actual)])
    inc = incident.declare(any_store, Incidents(), "API down", "SEV2", "ana", minutes(0), detected_at=minutes(0))
    row = incident.show(any_store, inc.id).row
    flips = [e.summary for e in timeline.for_incident(any_store, row, minutes(10)).entries
             if e.kind.startswith("check.")]
    assert flips == ["api new -> fail: status == 200 (actual: 503, expected: == 200)", "api fail -> pass: GET",
                     "api pass -> fail: status == 200 (actual: 503, expected: == 200)", "api fail -> pass: GET",
                     "api pass -> fail: status == 200 (actual: 502, expected: == 200)"]
