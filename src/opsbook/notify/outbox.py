"""The durable outbox: every notification is a row in ``notify_outbox``.

Enqueueing is idempotent (a unique dedup_key; a second insert of the same notification does
nothing). A sender claims a row with a compare-and-set UPDATE, so two daemons sharing one
PostgreSQL store never both send it; a crashed sender's claim lapses after claimed_until and
the row is sent again (at least once; receivers dedupe on the key). Rows of one group and
receiver go out in order: a resolve never overtakes the trigger it resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.load import Config
from ..store import outbox as rows_store
from ..store.db import Tx
from ..store.outbox import DEAD, DELIVERED, PENDING, OutboxRow
from ..store.store import Store

__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "OutboxRow",
    "ReceiverStatus",
    "claim",
    "counts",
    "delivered",
    "due",
    "enqueue",
    "failed",
    "receivers_status",
    "recent",
    "record_receiver",
    "release",
    "retry",
    "rows",
]


def enqueue(tx: Tx, *, dedup_key: str, group_key: str, receiver: str, kind: str, payload: dict[str, Any],
            now: datetime) -> bool:
    """Insert a notification unless one with this dedup_key exists; True when inserted."""
    return rows_store.enqueue(tx, dedup_key=dedup_key, group_key=group_key, receiver=receiver, kind=kind,
                              payload=payload, now=now)


def due(store: Store, now: datetime, limit: int) -> list[OutboxRow]:
    """Pending rows whose attempt is due and unclaimed, only the oldest per (group, receiver)."""
    with store.transaction() as tx:
        return rows_store.due(tx, now, limit)


def claim(store: Store, row_id: int, worker: str, now: datetime, ttl: float) -> bool:
    """Compare-and-set: take the row for ttl seconds unless someone else holds it."""
    with store.transaction() as tx:
        return rows_store.claim(tx, row_id, worker, now, ttl)


def record_receiver(store: Store, receiver: str, now: datetime, receipt: dict[str, Any] | None,
                    error: dict[str, Any] | None) -> None:
    """For deliveries outside the outbox (`opsbook notify test`)."""
    with store.transaction() as tx:
        rows_store.receiver_status(tx, receiver, now, receipt, error)


def delivered(store: Store, row: OutboxRow, worker: str, receipt: dict[str, Any], now: datetime) -> None:
    with store.transaction() as tx:
        rows_store.delivered(tx, row, worker, receipt, now)


def failed(store: Store, row: OutboxRow, worker: str, error: dict[str, Any], now: datetime,
           retry_at: datetime | None) -> None:
    """Keep the error; retry at retry_at, or mark the row dead when it is None."""
    with store.transaction() as tx:
        rows_store.failed(tx, row, worker, error, now, retry_at)


def release(store: Store, worker: str) -> int:
    """Drop this worker's claims on pending rows (a process abandoning its sends at exit): the
    next sender takes them at once. Returns the rows released."""
    with store.transaction() as tx:
        return rows_store.release(tx, worker)


def retry(store: Store, row_id: int, now: datetime) -> bool:
    """Put a dead row back in the queue (after fixing the receiver); True when it was dead."""
    with store.transaction() as tx:
        return rows_store.retry(tx, row_id, now)


def rows(store: Store, status: str | None = None, limit: int = 50, receiver: str | None = None) -> list[OutboxRow]:
    with store.transaction() as tx:
        return rows_store.rows(tx, status, limit, receiver)


def recent(store: Store, limit: int = 50) -> list[OutboxRow]:
    """The newest outbox rows, any status."""
    return rows(store, None, limit)


def counts(store: Store) -> dict[str, dict[str, int]]:
    """receiver -> status -> number of rows."""
    with store.transaction() as tx:
        return rows_store.counts(tx)


@dataclass
class ReceiverStatus:
    name: str
    kind: str
    last_success_at: datetime | None
    last_receipt: dict[str, Any] | None
    last_error_at: datetime | None
    last_error: dict[str, Any] | None
    pending: int
    dead: int
    delivered: int

    @property
    def ok(self) -> bool:
        """Healthy when the last attempt succeeded (or none was made) and nothing is dead."""
        failing = self.last_error_at is not None and (
            self.last_success_at is None or self.last_error_at > self.last_success_at)
        return not failing and self.dead == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "ok": self.ok,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "last_receipt": self.last_receipt,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_error": self.last_error, "pending": self.pending, "dead": self.dead, "delivered": self.delivered,
        }


def receivers_status(cfg: Config, store: Store) -> list[ReceiverStatus]:
    """Every configured receiver with its last delivery, last error and outbox counts."""
    with store.transaction() as tx:
        known = rows_store.receivers(tx)
    n = counts(store)
    out = []
    for name, rcv in cfg.model.notify.receivers.items():
        r = known.get(name) or (None, None, None, None)
        c = n.get(name, {})
        out.append(ReceiverStatus(name, rcv.kind, *r, c.get(PENDING, 0), c.get(DEAD, 0), c.get(DELIVERED, 0)))
    return out
