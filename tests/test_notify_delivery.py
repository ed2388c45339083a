"""The outbox delivers every notification at least once, in order, through outages, and
receivers dedupe on the Idempotency-Key so each arrives exactly once after dedup."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.notify import outbox
from opsbook.notify.pipeline import backoff, deliver_due, process
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, Recorder, alert, minutes, recorder, sqlite_store

__all__ = ["sqlite_store"]  # fixtures

SECRET = "hook-secret-7f3a9b"


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, str]]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with recorder() as (rec, url):
        yield rec, url


def config(url: str, tmp_path: Path, extra: str = "") -> Config:
    return load(f"""
        notify:
          route: {{receiver: hook, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}}
          receivers:
            hook: {{webhook: {{url: "{url}/hook", secret: {{env: HOOK_SECRET}}}}}}
          {extra}
        """, tmp_path)


def test_webhook_down_for_ten_minutes_receives_every_notification_once(
        hook: tuple[Recorder, str], any_store: Store, tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    rng = random.Random(7)
    now = T0
    while now <= T0 + minutes(30):
        alerts = [alert("api-down", at=T0)] if now < T0 + minutes(12) else \
            [alert("api-down", "resolved", at=T0 + minutes(12))]
        if now >= T0 + minutes(2):
            alerts.append(alert("db-down", at=T0 + minutes(2)))
        rec.fail = 503 if now < T0 + minutes(10) else None
        if now == T0 + minutes(10):
            rec.lose_answer_once = True  # the first answer after recovery is lost: a duplicate follows
        process(cfg, any_store, alerts, now)
        deliver_due(cfg, any_store, now, rng=rng)
        now += timedelta(seconds=15)

    rows = outbox.rows(any_store, limit=100)
    assert {r.status for r in rows} == {"delivered"}
    assert len(rows) == 3  # api-down firing, db-down firing, api-down resolved
    assert rec.attempts > len(rec.requests) > len(rows)  # retried through the outage, one duplicate
    by_key: dict[str, list[dict[str, object]]] = {}
    for req in rec.requests:
        by_key.setdefault(req["headers"]["idempotency-key"], []).append(req["json"])
    assert sorted(by_key) == sorted(r.dedup_key for r in rows)  # every notification, none invented
    assert all(len({str(d) for d in docs}) == 1 for docs in by_key.values())  # retries are identical
    firsts = [docs[0] for docs in sorted(by_key.values(), key=lambda d: str(d[0]["created_at"]))]
    assert [(d["group_labels"]["alertname"], d["status"]) for d in firsts] == [  # type: ignore[index]
        ("api-down", "firing"), ("db-down", "firing"), ("api-down", "resolved")]


def test_webhook_body_is_signed_with_hmac_of_timestamp_and_body(
        hook: tuple[Recorder, str], sqlite_store: Store, tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + timedelta(seconds=30))
    assert deliver_due(cfg, sqlite_store, T0 + timedelta(seconds=30))["delivered"] == 1
    (req,) = rec.requests
    ts = req["headers"]["x-opsbook-timestamp"]
    expected = hmac.new(SECRET.encode(), ts.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert req["headers"]["x-opsbook-signature"] == "sha256=" + expected
    doc = req["json"]
    assert doc["schema"] == "opsbook.notification/1" and doc["status"] == "firing"
    assert doc["alerts"][0]["labels"]["alertname"] == "api-down"


def test_429_with_retry_after_is_honoured_before_retrying(
        hook: tuple[Recorder, str], sqlite_store: Store, tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    t = T0 + timedelta(seconds=30)
    process(cfg, sqlite_store, [alert("api-down")], t)
    rec.fail, rec.retry_after = 429, "120"
    assert deliver_due(cfg, sqlite_store, t)["failed"] == 1
    (row,) = outbox.rows(sqlite_store)
    assert row.next_attempt_at >= t + timedelta(seconds=120)
    assert row.last_error is not None and row.last_error["status"] == 429 and row.last_error["retryable"]
    rec.fail = None
    assert deliver_due(cfg, sqlite_store, t + timedelta(seconds=60))["delivered"] == 0
    assert deliver_due(cfg, sqlite_store, t + timedelta(seconds=121))["delivered"] == 1


def test_404_is_not_retried_and_the_dead_row_keeps_its_error(
        hook: tuple[Recorder, str], sqlite_store: Store, tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + minutes(1))
    rec.fail = 404
    assert deliver_due(cfg, sqlite_store, T0 + minutes(1))["dead"] == 1
    (row,) = outbox.rows(sqlite_store)
    assert row.status == "dead" and row.last_error and "HTTP 404" in row.last_error["message"]
    (status,) = outbox.receivers_status(cfg, sqlite_store)
    assert not status.ok and status.dead == 1 and status.last_error is not None
    assert outbox.retry(sqlite_store, row.id, T0 + minutes(2))  # fixed: put it back
    rec.fail = None
    assert deliver_due(cfg, sqlite_store, T0 + minutes(2))["delivered"] == 1


def test_a_row_older_than_max_age_is_marked_dead(hook: tuple[Recorder, str], sqlite_store: Store,
                                                 tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path, "delivery: {max_age: 1h}")
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + minutes(1))
    rec.fail = 503
    assert deliver_due(cfg, sqlite_store, T0 + minutes(1))["failed"] == 1
    assert deliver_due(cfg, sqlite_store, T0 + minutes(62))["dead"] == 1


def test_secrets_are_in_no_stored_row_or_error(hook: tuple[Recorder, str], sqlite_store: Store,
                                               tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + minutes(1))
    rec.fail = 500
    deliver_due(cfg, sqlite_store, T0 + minutes(1))
    with sqlite_store.db.transaction() as tx:
        dump = str(tx.all("SELECT * FROM notify_outbox")) + str(tx.all("SELECT * FROM notify_receivers"))
    assert SECRET not in dump and "HTTP 500" in dump


def test_backoff_doubles_from_ten_seconds_up_to_five_minutes_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff(n, 10, 300, None, rng) for n in range(1, 10)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20
    assert all(150 <= d <= 300 for d in delays[6:])
    assert backoff(1, 10, 300, 900, rng) == 900  # Retry-After wins


def test_enqueueing_the_same_notification_twice_keeps_one_row(any_store: Store) -> None:
    for _ in range(2):
        with any_store.db.transaction() as tx:
            outbox.enqueue(tx, dedup_key="k1", group_key="g", receiver="hook", kind="firing",
                           payload={"id": "k1"}, now=T0)
    assert len(outbox.rows(any_store)) == 1


def test_two_senders_cannot_claim_one_row(any_store: Store) -> None:
    with any_store.db.transaction() as tx:
        outbox.enqueue(tx, dedup_key="k1", group_key="g", receiver="hook", kind="firing", payload={}, now=T0)
    (row,) = outbox.due(any_store, T0, 10)
    assert outbox.claim(any_store, row.id, "daemon-a", T0, 60)
    assert not outbox.claim(any_store, row.id, "daemon-b", T0 + timedelta(seconds=1), 60)
    assert outbox.due(any_store, T0 + timedelta(seconds=1), 10) == []
    # a crashed sender's claim lapses: the row is sent again (at least once)
    assert outbox.claim(any_store, row.id, "daemon-b", T0 + timedelta(seconds=61), 60)


def test_a_resolve_never_overtakes_its_trigger(hook: tuple[Recorder, str], sqlite_store: Store,
                                               tmp_path: Path) -> None:
    rec, url = hook
    cfg = config(url, tmp_path)
    process(cfg, sqlite_store, [alert("api-down")], T0)
    process(cfg, sqlite_store, [alert("api-down")], T0 + minutes(1))
    rec.fail = 503
    deliver_due(cfg, sqlite_store, T0 + minutes(1))
    process(cfg, sqlite_store, [alert("api-down", "resolved")], T0 + minutes(6))
    assert [r.status for r in outbox.due(sqlite_store, T0 + minutes(30), 10)] == ["pending"]  # only the trigger
    rec.fail = None
    assert deliver_due(cfg, sqlite_store, T0 + minutes(30))["delivered"] == 2
    assert [r["json"]["status"] for r in rec.requests] == ["firing", "resolved"]
