"""``replay resume RUN --retry-failed``: the events a target refused while it was down are sent
again once it recovered, each once, counted at a real receiver on 127.0.0.1 that verifies the
signature and counts by idempotency key; nothing delivered is sent again."""

from __future__ import annotations

from pathlib import Path

from opsbook.store import Store
from opsbook.store import replay_runs as rows
from tests.support.clirun import Run, opsbook
from tests.support.replayutil import config, receiver, write_events

JSONL = "{jsonl: {path: events.jsonl, key: id}}"


def _replay(cfg: Path, store: Store, *args: str) -> Run:
    return opsbook("replay", *args, "--json", "-c", str(cfg), "--store", store.url)


def _outcomes(store: Store, run_id: int) -> list[rows.EventRow]:
    with store.read() as tx:
        return rows.events(tx, run_id, limit=10_000)


def test_after_the_target_recovers_retry_failed_delivers_exactly_the_failed_events_once(
        any_store: Store, tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 60)
    # one worker: the first 20 requests (500s) are the 4 attempts of exactly the first 5 events
    with receiver(fail_first=20) as rec:
        cfg = config(tmp_path, rec.url, JSONL, concurrency=1)
        first = _replay(cfg, any_store, "run", "hooks")
        assert first.code == 1 and first.json["run"]["status"] == "failed", first.text
        assert first.json["counts"] == {"delivered": 55, "failed": 5, "skipped": 0}
        failed = {f["key"] for f in first.json["failures"]}
        assert len(failed) == 5 and not failed & set(rec.by_key)
        sent = rec.requests

        plain = _replay(cfg, any_store, "resume", "1")  # without the flag: none of them is sent
        assert plain.code == 1 and plain.json["counts"]["failed"] == 5, plain.text
        assert rec.requests == sent

        r = _replay(cfg, any_store, "resume", "1", "--retry-failed")
        assert r.code == 0, r.text
    assert r.json["run"]["status"] == "succeeded"
    assert r.json["counts"] == {"delivered": 60, "failed": 0, "skipped": 0}
    assert r.json["run"]["delivered"] == 60 and r.json["run"]["failed"] == 0
    assert rec.requests == sent + 5  # exactly the failed ones, once each
    assert all(rec.attempts[k] == 5 and rec.by_key[k] == 1 for k in failed)  # 4 refused, then 1
    assert all(n == 1 for k, n in rec.attempts.items() if k not in failed)  # nothing delivered re-sent
    assert rec.unique == 60 and rec.bad_signatures == 0
    shown = _replay(cfg, any_store, "show", "1").json
    run = shown["run"]
    assert run["delivered"] + run["failed"] + run["skipped"] == 60 == sum(shown["counts"].values())
    assert run["attempts"] == 20 + 55 + 5
    events = _outcomes(any_store, 1)
    assert len(events) == len({e.key for e in events}) == 60  # one row per event, updated in place
    assert {e.attempts for e in events if e.key in failed} == {5}


def test_a_run_stopped_by_its_stop_rule_resumes_and_retries_its_failures_once(any_store: Store,
                                                                             tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 300)
    with receiver(fail_first=40) as rec:
        cfg = config(tmp_path, rec.url, JSONL, extra='    stop_if: "error_ratio > 0.05 after 10"\n',
                     concurrency=2)
        first = _replay(cfg, any_store, "run", "hooks")
        assert first.code == 1 and first.json["run"]["status"] == "stopped", first.text
        delivered_before = {e.key for e in _outcomes(any_store, 1) if e.status == "delivered"}
        # a key delivered in the first run may have met the failing target first: count from here
        tries_before = {k: rec.attempts[k] for k in delivered_before}
        r = _replay(cfg, any_store, "resume", "1", "--retry-failed")
        assert r.code == 0, r.text
    assert r.json["counts"] == {"delivered": 300, "failed": 0, "skipped": 0}
    assert rec.unique == 300 and set(rec.by_key.values()) == {1}
    assert all(rec.attempts[k] == tries_before[k] for k in delivered_before)  # none sent again
    events = _outcomes(any_store, 1)
    assert len(events) == len({e.key for e in events}) == 300


def test_events_still_refused_are_sent_once_per_resume_and_malformed_lines_never(any_store: Store,
                                                                                tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 10)
    with (tmp_path / "events.jsonl").open("a") as f:
        f.write("not json\n")
    with receiver(fail_first=10_000, fail_status=400) as rec:  # a 400 is not retried: one attempt each
        cfg = config(tmp_path, rec.url, JSONL)
        first = _replay(cfg, any_store, "run", "hooks")
        assert first.json["counts"] == {"delivered": 0, "failed": 10, "skipped": 1}, first.text
        r = _replay(cfg, any_store, "resume", "1", "--retry-failed")
        again = _replay(cfg, any_store, "resume", "1", "--retry-failed")
    assert r.code == again.code == 1 and again.json["run"]["status"] == "failed"
    assert again.json["counts"] == {"delivered": 0, "failed": 10, "skipped": 1}
    assert rec.requests == 30 and set(rec.attempts.values()) == {3}
    events = _outcomes(any_store, 1)
    assert sorted(e.attempts for e in events) == [0] + [3] * 10
    assert [e.status for e in events if e.attempts == 0] == ["skipped"]
    text = opsbook("replay", "show", "1", "-c", str(cfg), "--store", any_store.url).stdout
    assert "opsbook replay resume 1 [--retry-failed" in text


def test_a_plain_resume_replaces_a_failed_outcome_recorded_beyond_the_cursor(any_store: Store,
                                                                            tmp_path: Path) -> None:
    from opsbook.results import utcnow

    write_events(tmp_path / "events.jsonl", 10)
    now = utcnow()
    with any_store.transaction() as tx:  # killed with event 0 in flight: 1 delivered, 2 refused, no cursor yet
        run = rows.insert_run(tx, name="hooks", since=None, until=None, dry_run=False, limit=None,
                              operator="ana", runner="gone:1", now=now)
        rows.record(tx, run.id, "gone:1", [rows.Outcome("evt_0000001", 1, "delivered", 1, 200, None, None),
                                           rows.Outcome("evt_0000002", 2, "failed", 4, 500, "HTTP 500", None)],
                    attempts=5, active_seconds=0.1, cursor=None, now=now)
        assert rows.move(tx, run, "interrupted", now) is not None
    with receiver() as rec:
        cfg = config(tmp_path, rec.url, JSONL, concurrency=1)
        r = _replay(cfg, any_store, "resume", str(run.id))
    assert r.code == 0, r.text
    assert r.json["counts"] == {"delivered": 10, "failed": 0, "skipped": 0}  # the refusal is not counted twice
    assert r.json["run"]["delivered"] == 10 and r.json["run"]["failed"] == 0
    assert "evt_0000001" not in rec.attempts and rec.attempts["evt_0000002"] == 1
    events = _outcomes(any_store, run.id)
    assert len(events) == len({e.key for e in events}) == 10
    assert [e.attempts for e in events if e.key == "evt_0000002"] == [5]  # 4 before, 1 now
