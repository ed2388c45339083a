"""Owner of notify_outbox and notify_receivers: every notification is a row (the durable outbox),
and each receiver's last delivery and last error.

Enqueueing is idempotent (a unique dedup_key). A sender claims a row with a compare-and-set
UPDATE, so two daemons sharing one PostgreSQL store never both send it; a crashed sender's claim
lapses after claimed_until. notify/outbox.py has the sending side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..config.secrets import redactor
from .db import Tx, load_json, maybe_ts, parse_ts, ts_reader

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (20, "notify: alert groups, outbox, silences, receiver status", [
        # every notification is a row; dedup_key makes enqueueing idempotent. The payload never
        # holds secrets: routing keys, HMAC keys and Apprise URLs are resolved at send time
        """CREATE TABLE notify_outbox (
            id {id},
            dedup_key TEXT NOT NULL UNIQUE,
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            payload {json} NOT NULL,
            created_at {ts} NOT NULL,
            next_attempt_at {ts} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_until {ts},
            delivered_at {ts},
            last_error {json},
            last_error_at {ts},
            receipt {json})""",
        "CREATE INDEX ix_notify_outbox_due ON notify_outbox (status, next_attempt_at)",
        "CREATE INDEX ix_notify_outbox_group ON notify_outbox (group_key, receiver, status)",
        # the last delivery and the last error per receiver, kept after outbox rows are pruned
        """CREATE TABLE notify_receivers (
            receiver TEXT PRIMARY KEY,
            last_success_at {ts},
            last_receipt {json},
            last_error_at {ts},
            last_error {json})""",
    ]),
    # an incident's timeline reads the notifications queued, delivered or failed in a time window
    # (ops/timeline.py): one index per time, which both dialects combine for the OR
    (21, "notifications by time", [
        "CREATE INDEX ix_notify_outbox_created ON notify_outbox (created_at)",
        "CREATE INDEX ix_notify_outbox_delivered ON notify_outbox (delivered_at)",
        "CREATE INDEX ix_notify_outbox_error ON notify_outbox (last_error_at)",
    ]),
]

TABLES: tuple[str, ...] = ("notify_outbox", "notify_receivers")

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_COLS = ("id, dedup_key, group_key, receiver, kind, status, payload, created_at, next_attempt_at, attempts, "
         "delivered_at, last_error, last_error_at, receipt")


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
                     int(r[9]), maybe_ts(r[10]), load_json(r[11]), maybe_ts(r[12]), load_json(r[13]))


def enqueue(tx: Tx, *, dedup_key: str, group_key: str, receiver: str, kind: str, payload: dict[str, Any],
            now: datetime) -> bool:
    """Insert a notification unless one with this dedup_key exists; True when inserted."""
    db = tx.db
    cur = tx.execute(
        "INSERT INTO notify_outbox (dedup_key, group_key, receiver, kind, status, payload, created_at, "
        "next_attempt_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (dedup_key) DO NOTHING",
        (dedup_key, group_key, receiver, kind, PENDING, db.json(redactor.redact(payload)), db.ts(now), db.ts(now)))
    return bool(cur.rowcount == 1)


def due(tx: Tx, now: datetime, limit: int) -> list[OutboxRow]:
    """Pending rows whose attempt is due and unclaimed, only the oldest per (group, receiver)."""
    t = tx.db.ts(now)
    rows = tx.all(
        f"SELECT {_COLS} FROM notify_outbox o WHERE status = ? AND next_attempt_at <= ? "
        "AND (claimed_until IS NULL OR claimed_until < ?) "
        "AND id = (SELECT min(id) FROM notify_outbox p WHERE p.group_key = o.group_key "
        "AND p.receiver = o.receiver AND p.status = ?) ORDER BY next_attempt_at, id LIMIT ?",
        (PENDING, t, t, PENDING, limit))
    return [_row(r) for r in rows]


def claim(tx: Tx, row_id: int, worker: str, now: datetime, ttl: float) -> bool:
    """Compare-and-set: take the row for ttl seconds unless someone else holds it."""
    db = tx.db
    cur = tx.execute(
        "UPDATE notify_outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND status = ? "
        "AND (claimed_until IS NULL OR claimed_until < ?)",
        (worker, db.ts(now + timedelta(seconds=ttl)), row_id, PENDING, db.ts(now)))
    return bool(cur.rowcount == 1)


def receiver_status(tx: Tx, receiver: str, now: datetime, receipt: dict[str, Any] | None,
                    error: dict[str, Any] | None) -> None:
    """The receiver's last success (error None) or last error."""
    db = tx.db
    if error is None:
        tx.execute("INSERT INTO notify_receivers (receiver, last_success_at, last_receipt) VALUES (?, ?, ?) "
                   "ON CONFLICT (receiver) DO UPDATE SET last_success_at = excluded.last_success_at, "
                   "last_receipt = excluded.last_receipt", (receiver, db.ts(now), db.json(receipt)))
    else:
        tx.execute("INSERT INTO notify_receivers (receiver, last_error_at, last_error) VALUES (?, ?, ?) "
                   "ON CONFLICT (receiver) DO UPDATE SET last_error_at = excluded.last_error_at, "
                   "last_error = excluded.last_error", (receiver, db.ts(now), db.json(redactor.redact(error))))


def delivered(tx: Tx, row: OutboxRow, worker: str, receipt: dict[str, Any], now: datetime) -> None:
    db = tx.db
    tx.execute("UPDATE notify_outbox SET status = ?, delivered_at = ?, receipt = ?, attempts = attempts + 1, "
               "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
               (DELIVERED, db.ts(now), db.json(redactor.redact(receipt)), row.id, worker))
    receiver_status(tx, row.receiver, now, receipt, None)


def failed(tx: Tx, row: OutboxRow, worker: str, error: dict[str, Any], now: datetime,
           retry_at: datetime | None) -> None:
    """Keep the error; retry at retry_at, or mark the row dead when it is None."""
    db = tx.db
    tx.execute("UPDATE notify_outbox SET status = ?, next_attempt_at = ?, last_error = ?, last_error_at = ?, "
               "attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
               (PENDING if retry_at else DEAD, db.ts(retry_at or row.next_attempt_at),
                db.json(redactor.redact(error)), db.ts(now), row.id, worker))
    receiver_status(tx, row.receiver, now, None, error)


def release(tx: Tx, worker: str) -> int:
    """Drop this worker's claims on pending rows; returns the rows released."""
    cur = tx.execute("UPDATE notify_outbox SET claimed_by = NULL, claimed_until = NULL "
                     "WHERE claimed_by = ? AND status = ?", (worker, PENDING))
    return int(cur.rowcount)


def retry(tx: Tx, row_id: int, now: datetime) -> bool:
    """Put a dead row back in the queue; True when it was dead."""
    db = tx.db
    cur = tx.execute("UPDATE notify_outbox SET status = ?, next_attempt_at = ?, created_at = ? "
                     "WHERE id = ? AND status = ?", (PENDING, db.ts(now), db.ts(now), row_id, DEAD))
    return bool(cur.rowcount == 1)


def rows(tx: Tx, status: str | None = None, limit: int = 50, receiver: str | None = None) -> list[OutboxRow]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if receiver:
        where.append("receiver = ?")
        params.append(receiver)
    cond = "WHERE " + " AND ".join(where) if where else ""
    sql = f"SELECT {_COLS} FROM notify_outbox {cond} ORDER BY id DESC LIMIT ?"
    return [_row(r) for r in tx.all(sql, (*params, limit))]


# a notification for a timeline: (id, kind, receiver, group_key, payload title or None, status,
# attempts, created_at, delivered_at, last_error_at, last error message or None)
Touch = tuple[int, str, str, str, Any, str, int, datetime, datetime | None, datetime | None, Any]


def touched_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[Touch]:
    """Notifications queued, delivered or last failed at ``start`` .. ``end``, newest first, at most
    ``limit``, as plain tuples of what a timeline shows: the title and the error message are read
    out of the documents in SQL (decoding thousands of whole payloads was a third of a timeline's
    time, and building rows with every column another)."""
    db = tx.db
    a, b = db.ts(start), db.ts(end)
    # the message when it is a string (always, as failed() writes it), else the whole document
    if db.dialect == "sqlite":
        title, text = "json_extract(payload, '$.title')", "json_type(last_error, '$.message') = 'text'"
        message = f"CASE WHEN {text} THEN json_extract(last_error, '$.message') END"
    else:
        title, text = "payload ->> 'title'", "jsonb_typeof(last_error -> 'message') = 'string'"
        message = f"CASE WHEN {text} THEN last_error ->> 'message' END"
    message += f", CASE WHEN {text} IS NOT TRUE THEN last_error END"
    rows = tx.all(
        f"SELECT id, kind, receiver, group_key, {title}, status, attempts, created_at, delivered_at, last_error_at, "
        f"{message} FROM notify_outbox WHERE (created_at >= ? AND created_at <= ?) "
        "OR (delivered_at >= ? AND delivered_at <= ?) OR (last_error_at >= ? AND last_error_at <= ?) "
        "ORDER BY created_at DESC, id DESC LIMIT ?", (a, b, a, b, a, b, limit))
    iso = ts_reader(db.dialect)
    return [(i, k, r, g, t, s, n, iso(c), iso(d) if d else None, iso(e) if e else None,
             m if m is not None else (load_json(doc) or {}).get("message", ""))
            for i, k, r, g, t, s, n, c, d, e, m, doc in rows]


def count_touches_between(tx: Tx, start: datetime, end: datetime) -> int:
    """How many queued, delivered and failed moments fall in ``start`` .. ``end`` (a row can have three)."""
    a, b = tx.db.ts(start), tx.db.ts(end)
    r = tx.one("SELECT (SELECT count(*) FROM notify_outbox WHERE created_at >= ? AND created_at <= ?) + "
               "(SELECT count(*) FROM notify_outbox WHERE delivered_at >= ? AND delivered_at <= ?) + "
               "(SELECT count(*) FROM notify_outbox WHERE last_error_at >= ? AND last_error_at <= ?)",
               (a, b, a, b, a, b))
    return int(r[0]) if r else 0


def counts(tx: Tx) -> dict[str, dict[str, int]]:
    """receiver -> status -> number of rows."""
    out: dict[str, dict[str, int]] = {}
    for receiver, status, n in tx.all("SELECT receiver, status, count(*) FROM notify_outbox GROUP BY receiver, status"):
        out.setdefault(receiver, {})[status] = int(n)
    return out


# receiver -> (last success at, last receipt, last error at, last error)
ReceiverRow = tuple[datetime | None, dict[str, Any] | None, datetime | None, dict[str, Any] | None]


def receivers(tx: Tx) -> dict[str, ReceiverRow]:
    return {r[0]: (maybe_ts(r[1]), load_json(r[2]), maybe_ts(r[3]), load_json(r[4]))
            for r in tx.all("SELECT receiver, last_success_at, last_receipt, last_error_at, last_error "
                            "FROM notify_receivers")}


def prune_delivered(tx: Tx, before: Any) -> int:
    return int(tx.execute("DELETE FROM notify_outbox WHERE delivered_at < ? AND status = ?",
                          (before, DELIVERED)).rowcount)


def prune_dead(tx: Tx, before: Any) -> int:
    return int(tx.execute("DELETE FROM notify_outbox WHERE COALESCE(last_error_at, created_at) < ? AND status = ?",
                          (before, DEAD)).rowcount)
