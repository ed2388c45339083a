"""A receiver that accepts and never answers, or drips one byte at a time, delays only its own
notifications: the outbox delivers across receivers in parallel, each attempt under a total
deadline (the receiver's ``timeout:``), and the hung receiver's row is retried later."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from opsbook.config.load import Config
from opsbook.notify import outbox
from opsbook.notify.pipeline import claim_ttl, deliver_due
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.hungutil import peer
from tests.support.notifyutil import T0, sqlite_store

__all__ = ["sqlite_store"]  # fixtures

# generous: a bound on a wait, not a speed assertion (the deadlines below are 1 s)
BOUND = 30.0


def config(tmp_path: Path, hung: str, drip: str, good: str) -> Config:
    return load(f"""
        notify:
          route: {{receiver: good}}
          receivers:
            hung: {{webhook: {{url: "{hung}/hook", timeout: 1s}}}}
            drip: {{webhook: {{url: "{drip}/hook", timeout: 1s}}}}
            good: {{webhook: {{url: "{good}/hook", timeout: 1s}}}}
        """, tmp_path)


def page(store: Store, receiver: str) -> None:
    with store.db.transaction() as tx:
        outbox.enqueue(tx, dedup_key=f"page-{receiver}", group_key=f"g-{receiver}", receiver=receiver,
                       kind="firing", payload={"id": f"page-{receiver}", "status": "firing", "title": "db down"},
                       now=T0)


def deliver_once(cfg: Config, store: Store) -> dict[str, Any]:
    """One `deliver` call, in a thread so that a pass that never ends fails the test instead of hanging it."""
    out: dict[str, Any] = {}
    t = threading.Thread(target=lambda: out.update(deliver_due(cfg, store, T0)), daemon=True)
    t.start()
    t.join(BOUND)
    assert not t.is_alive(), "the delivery pass did not end at its deadline"
    return out


def test_hung_and_dripping_receivers_delay_only_their_own_notifications(sqlite_store: Store, tmp_path: Path) -> None:
    with peer("hang") as hung, peer("drip") as drip, peer("ok") as good:
        cfg = config(tmp_path, hung.url, drip.url, good.url)
        for r in ("hung", "drip", "good"):
            page(sqlite_store, r)

        summary = deliver_once(cfg, sqlite_store)

        assert [b["id"] for b in good.bodies] == ["page-good"]  # the working receiver got its page
        assert summary["delivered"] == 1 and summary["failed"] == 2
        rows = {r.receiver: r for r in outbox.rows(sqlite_store)}
        assert rows["good"].status == "delivered"
        for name in ("hung", "drip"):
            row = rows[name]
            assert row.status == "pending" and row.attempts == 1  # retried later...
            assert row.next_attempt_at > T0
            assert row.last_error is not None and "timed out after 1s" in row.last_error["message"]  # ...error kept
        assert hung.accepted == 1 and drip.accepted == 1


def test_a_dripping_receiver_is_cut_off_at_the_deadline_not_kept_alive_by_each_byte(
        sqlite_store: Store, tmp_path: Path) -> None:
    with peer("drip", drip_every=0.2) as drip, peer("ok") as good:
        cfg = config(tmp_path, good.url, drip.url, good.url)
        page(sqlite_store, "drip")

        summary = deliver_once(cfg, sqlite_store)

        assert summary["failed"] == 1
        (row,) = outbox.rows(sqlite_store)
        assert row.status == "pending" and "timed out" in (row.last_error or {}).get("message", "")


def test_a_claim_lapses_soon_after_the_attempts_deadline(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9")
    assert claim_ttl(cfg, "good") < 2 * 1.0 + 30  # was 2 x timeout + 30 s
    assert claim_ttl(cfg, "good") <= 1.0 + 5


def test_a_receiver_answering_with_an_endless_body_is_read_only_up_to_the_cap(
        sqlite_store: Store, tmp_path: Path) -> None:
    """A receiver's answer is read up to 64 KiB: a 200 that streams forever is a delivery, not a
    connection held until the deadline while memory fills."""
    with peer("endless") as endless:
        cfg = config(tmp_path, endless.url, endless.url, endless.url)
        page(sqlite_store, "good")

        summary = deliver_once(cfg, sqlite_store)

        assert summary["delivered"] == 1 and summary["failed"] == 0
        assert [b["id"] for b in endless.bodies] == ["page-good"]
        assert {r.receiver: r.status for r in outbox.rows(sqlite_store)} == {"good": "delivered"}
