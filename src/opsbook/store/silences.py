"""Owner of notify_silences: a silence mutes alerts matching its matchers between two times.
Matchers are stored as their dicts; notify/silences.py turns them into Matchers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import Tx, load_json, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (20, "notify: alert groups, outbox, silences, receiver status", [
        """CREATE TABLE notify_silences (
            id TEXT PRIMARY KEY,
            matchers {json} NOT NULL,
            author TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            starts_at {ts} NOT NULL,
            ends_at {ts} NOT NULL,
            created_at {ts} NOT NULL,
            expired_by TEXT)""",
        "CREATE INDEX ix_notify_silences_ends ON notify_silences (ends_at)",
    ]),
]

TABLES: tuple[str, ...] = ("notify_silences",)

_COLS = "id, matchers, author, comment, starts_at, ends_at, created_at, expired_by"


@dataclass(frozen=True)
class SilenceRow:
    id: str
    matchers: list[dict[str, Any]]
    author: str
    comment: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    expired_by: str | None


def _row(r: tuple[Any, ...]) -> SilenceRow:
    return SilenceRow(r[0], load_json(r[1]), r[2], r[3], parse_ts(r[4]), parse_ts(r[5]), parse_ts(r[6]), r[7])


def insert(tx: Tx, s: SilenceRow) -> None:
    db = tx.db
    tx.execute(f"INSERT INTO notify_silences ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (s.id, db.json(s.matchers), s.author, s.comment, db.ts(s.starts_at), db.ts(s.ends_at),
                db.ts(s.created_at), s.expired_by))


def active(tx: Tx, now: datetime) -> list[SilenceRow]:
    """Silences in force now, ending soonest first."""
    t = tx.db.ts(now)
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM notify_silences WHERE starts_at <= ? AND ends_at > ? "
                                    "ORDER BY ends_at", (t, t))]


def listing(tx: Tx, now: datetime, include_expired: bool, limit: int) -> list[SilenceRow]:
    """Active and pending silences (with include_expired, expired ones too), ending last first."""
    where = "" if include_expired else "WHERE ends_at > ?"
    params: tuple[Any, ...] = () if include_expired else (tx.db.ts(now),)
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM notify_silences {where} ORDER BY ends_at DESC LIMIT ?",
                                    (*params, limit))]


def changed_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[SilenceRow]:
    """Silences created, starting or ending at ``start`` .. ``end``, newest first, at most ``limit``."""
    a, b = tx.db.ts(start), tx.db.ts(end)
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM notify_silences WHERE (created_at >= ? AND created_at <= ?) "
        "OR (starts_at >= ? AND starts_at <= ?) OR (ends_at >= ? AND ends_at <= ?) "
        "ORDER BY created_at DESC, id DESC LIMIT ?", (a, b, a, b, a, b, limit))]


def count_changes_between(tx: Tx, start: datetime, end: datetime) -> int:
    """How many creations and endings fall in ``start`` .. ``end`` (a silence can have both)."""
    a, b = tx.db.ts(start), tx.db.ts(end)
    r = tx.one("SELECT (SELECT count(*) FROM notify_silences WHERE created_at >= ? AND created_at <= ?) + "
               "(SELECT count(*) FROM notify_silences WHERE ends_at >= ? AND ends_at <= ?)", (a, b, a, b))
    return int(r[0]) if r else 0


def by_id_prefix(tx: Tx, prefix: str) -> list[SilenceRow]:
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM notify_silences WHERE id LIKE ?", (prefix + "%",))]


def expire(tx: Tx, silence_id: str, now: datetime, by: str) -> None:
    tx.execute("UPDATE notify_silences SET ends_at = ?, expired_by = ? WHERE id = ?", (tx.db.ts(now), by, silence_id))
