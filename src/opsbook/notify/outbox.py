"""The durable outbox: every notification is a row in ``notify_outbox``.

Enqueueing is idempotent (a unique dedup_key; a second insert of the same notification does
nothing). A sender claims a row with a compare-and-set UPDATE, so two daemons sharing one
PostgreSQL store never both send it; a crashed sender's claim lapses after claimed_until and
the row is sent again (at least once; receivers dedupe on the key). Rows of one group and
receiver go out in order: a resolve never overtakes the trigger it resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..config.secrets import redactor
from ..store.db import Tx, load_json, parse_ts
from ..store.store import Store

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_COLS = ("id, dedup_key, group_key, receiver, kind, status, payload, created_at, next_attempt_at, attempts, "
         "delivered_at, last_error, last_error_at, receipt")


def _ts(v: Any) -> datetime | None:
    return parse_ts(v) if v is not None else None


@dataclass
class OutboxRow:
    id: int
    dedup_key: str
    group_key: str
    receiver: str
    kind: str
    status: str
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    delivered_at: datetime | None
    last_error: dict[str, Any] | None
    last_error_at: datetime | None
    receipt: dict[str, Any] | None

    def to_dict(self, payload: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id, "dedup_key": self.dedup_key, "group_key": self.group_key, "receiver": self.receiver,
            "kind": self.kind, "status": self.status, "notification_status": self.payload.get("status"),
            "title": self.payload.get("title"), "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.status == PENDING else None,
            "attempts": self.attempts,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "receipt": self.receipt,
        }
        if payload:
            d["payload"] = self.payload
        return d


def _row(r: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], load_json(r[6]), parse_ts(r[7]), parse_ts(r[8]),
                     int(r[9]), _ts(r[10]), load_json(r[11]), _ts(r[12]), load_json(r[13]))


def enqueue(tx: Tx, *, dedup_key: str, group_key: str, receiver: str, kind: str, payload: dict[str, Any],
            now: datetime) -> bool:
    """Insert a notification unless one with this dedup_key exists; True when inserted."""
    db = tx.db
    cur = tx.execute(
        "INSERT INTO notify_outbox (dedup_key, group_key, receiver, kind, status, payload, created_at, "
        "next_attempt_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (dedup_key) DO NOTHING",
        (dedup_key, group_key, receiver, kind, PENDING, db.json(redactor.redact(payload)), db.ts(now), db.ts(now)))
    return bool(cur.rowcount == 1)


def due(store: Store, now: datetime, limit: int) -> list[OutboxRow]:
    """Pending rows whose attempt is due and unclaimed, only the oldest per (group, receiver)."""
    t = store.db.ts(now)
    with store.db.transaction() as tx:
        rows = tx.all(
            f"SELECT {_COLS} FROM notify_outbox o WHERE status = ? AND next_attempt_at <= ? "
            "AND (claimed_until IS NULL OR claimed_until < ?) "
            "AND id = (SELECT min(id) FROM notify_outbox p WHERE p.group_key = o.group_key "
            "AND p.receiver = o.receiver AND p.status = ?) ORDER BY next_attempt_at, id LIMIT ?",
            (PENDING, t, t, PENDING, limit))
    return [_row(r) for r in rows]


def claim(store: Store, row_id: int, worker: str, now: datetime, ttl: float) -> bool:
    """Compare-and-set: take the row for ttl seconds unless someone else holds it."""
    db = store.db
    with db.transaction() as tx:
        cur = tx.execute(
            "UPDATE notify_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND status = ? "
            "AND (claimed_until IS NULL OR claimed_until < ?)",
            (worker, db.ts(now + timedelta(seconds=ttl)), row_id, PENDING, db.ts(now)))
        return bool(cur.rowcount == 1)


def _receiver_status(tx: Tx, receiver: str, now: datetime, receipt: dict[str, Any] | None,
                     error: dict[str, Any] | None) -> None:
    db = tx.db
    if error is None:
        tx.execute("INSERT INTO notify_receivers (receiver, last_success_at, last_receipt) VALUES (?, ?, ?) "
                   "ON CONFLICT (receiver) DO UPDATE SET last_success_at = excluded.last_success_at, "
                   "last_receipt = excluded.last_receipt", (receiver, db.ts(now), db.json(receipt)))
    else:
        tx.execute("INSERT INTO notify_receivers (receiver, last_error_at, last_error) VALUES (?, ?, ?) "
                   "ON CONFLICT (receiver) DO UPDATE SET last_error_at = excluded.last_error_at, "
                   "last_error = excluded.last_error", (receiver, db.ts(now), db.json(redactor.redact(error))))


def record_receiver(store: Store, receiver: str, now: datetime, receipt: dict[str, Any] | None,
                    error: dict[str, Any] | None) -> None:
    """For deliveries outside the outbox (`opsbook notify test`)."""
    with store.db.transaction() as tx:
        _receiver_status(tx, receiver, now, receipt, error)


def delivered(store: Store, row: OutboxRow, worker: str, receipt: dict[str, Any], now: datetime) -> None:
    db = store.db
    with db.transaction() as tx:
        tx.execute("UPDATE notify_outbox SET status = ?, delivered_at = ?, receipt = ?, attempts = attempts + 1, "
                   "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                   (DELIVERED, db.ts(now), db.json(redactor.redact(receipt)), row.id, worker))
        _receiver_status(tx, row.receiver, now, receipt, None)


def failed(store: Store, row: OutboxRow, worker: str, error: dict[str, Any], now: datetime,
           retry_at: datetime | None) -> None:
    """Keep the error; retry at retry_at, or mark the row dead when it is None."""
    db = store.db
    with db.transaction() as tx:
        tx.execute("UPDATE notify_outbox SET status = ?, next_attempt_at = ?, last_error = ?, last_error_at = ?, "
                   "attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                   (PENDING if retry_at else DEAD, db.ts(retry_at or row.next_attempt_at),
                    db.json(redactor.redact(error)), db.ts(now), row.id, worker))
        _receiver_status(tx, row.receiver, now, None, error)


def release(store: Store, worker: str) -> int:
    """Drop this worker's claims on pending rows (a process abandoning its sends at exit): the
    next sender takes them at once. Returns the rows released."""
    with store.db.transaction() as tx:
        cur = tx.execute("UPDATE notify_outbox SET claimed_by = NULL, claimed_until = NULL "
                         "WHERE claimed_by = ? AND status = ?", (worker, PENDING))
        return int(cur.rowcount)


def retry(store: Store, row_id: int, now: datetime) -> bool:
    """Put a dead row back in the queue (after fixing the receiver); True when it was dead."""
    db = store.db
    with db.transaction() as tx:
        cur = tx.execute("UPDATE notify_outbox SET status = ?, next_attempt_at = ?, created_at = ? "
                         "WHERE id = ? AND status = ?", (PENDING, db.ts(now), db.ts(now), row_id, DEAD))
        return bool(cur.rowcount == 1)


def rows(store: Store, status: str | None = None, limit: int = 50, receiver: str | None = None) -> list[OutboxRow]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if receiver:
        where.append("receiver = ?")
        params.append(receiver)
    cond = "WHERE " + " AND ".join(where) if where else ""
    sql = f"SELECT {_COLS} FROM notify_outbox {cond} ORDER BY id DESC LIMIT ?"
    with store.db.transaction() as tx:
        return [_row(r) for r in tx.all(sql, (*params, limit))]


def recent(store: Store, limit: int = 50) -> list[OutboxRow]:
    """The newest outbox rows, any status."""
    return rows(store, None, limit)


def counts(store: Store) -> dict[str, dict[str, int]]:
    """receiver -> status -> number of rows."""
    out: dict[str, dict[str, int]] = {}
    with store.db.transaction() as tx:
        for receiver, status, n in tx.all(
                "SELECT receiver, status, count(*) FROM notify_outbox GROUP BY receiver, status"):
            out.setdefault(receiver, {})[status] = int(n)
    return out


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
    with store.db.transaction() as tx:
        known = {r[0]: r for r in tx.all("SELECT receiver, last_success_at, last_receipt, last_error_at, "
                                         "last_error FROM notify_receivers")}
    n = counts(store)
    out = []
    for name, rcv in cfg.model.notify.receivers.items():
        r = known.get(name)
        c = n.get(name, {})
        out.append(ReceiverStatus(
            name, rcv.kind, _ts(r[1]) if r else None, load_json(r[2]) if r else None, _ts(r[3]) if r else None,
            load_json(r[4]) if r else None, c.get(PENDING, 0), c.get(DEAD, 0), c.get(DELIVERED, 0)))
    return out
