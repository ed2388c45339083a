"""Owner of status_updates: what was written for the public status page. Two kinds share the
table: ``incident`` (a public update on an incident: its status, message and affected
components) and ``notice`` (a free-standing notice, incident_id NULL, that may expire). Rows are
only appended; a notice is taken down by setting its expires_at (compare-and-set on its being
still up), so the history stays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (62, "status_updates: public incident updates and status page notices", [
        """CREATE TABLE status_updates (
            id {id},
            incident_id {bigint},
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT NOT NULL,
            components {json} NOT NULL,
            at {ts} NOT NULL,
            author TEXT NOT NULL,
            expires_at {ts})""",
        "CREATE INDEX ix_status_updates_incident ON status_updates (incident_id, at)",
        "CREATE INDEX ix_status_updates_kind ON status_updates (kind, at)",
    ]),
]

TABLES: tuple[str, ...] = ("status_updates",)

_COLS = "id, incident_id, kind, status, message, components, at, author, expires_at"


@dataclass(frozen=True)
class UpdateRow:
    id: int
    incident_id: int | None
    kind: str  # incident | notice
    status: str
    message: str
    components: dict[str, str]  # status page component -> degraded | outage
    at: datetime
    author: str
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def _row(r: tuple[Any, ...]) -> UpdateRow:
    return UpdateRow(int(r[0]), int(r[1]) if r[1] is not None else None, r[2], r[3], r[4], load_json(r[5]),
                     parse_ts(r[6]), r[7], maybe_ts(r[8]))


def insert(tx: Tx, *, incident_id: int | None, kind: str, status: str, message: str, components: dict[str, str],
           at: datetime, author: str, expires_at: datetime | None) -> UpdateRow:
    db = tx.db
    r = tx.one(f"INSERT INTO status_updates (incident_id, kind, status, message, components, at, author, expires_at) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
               (incident_id, kind, status, message, db.json(components), db.ts(at), author,
                db.ts(expires_at) if expires_at else None))
    assert r is not None
    return _row(r)


def get(tx: Tx, update_id: int) -> UpdateRow | None:
    r = tx.one(f"SELECT {_COLS} FROM status_updates WHERE id = ?", (update_id,))
    return _row(r) if r else None


def for_incident(tx: Tx, incident_id: int) -> list[UpdateRow]:
    """One incident's public updates, oldest first."""
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM status_updates WHERE kind = 'incident' AND incident_id = ? "
                                    "ORDER BY at, id", (incident_id,))]


def incident_updates_since(tx: Tx, since: datetime) -> list[UpdateRow]:
    """Every public update of each incident that had one at or after ``since``, oldest first."""
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM status_updates WHERE kind = 'incident' AND incident_id IN "
        "(SELECT incident_id FROM status_updates WHERE kind = 'incident' AND at >= ?) ORDER BY at, id",
        (tx.db.ts(since),))]


def active_notices(tx: Tx, now: datetime) -> list[UpdateRow]:
    """Notices posted by now and not expired, newest first."""
    t = tx.db.ts(now)
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM status_updates WHERE kind = 'notice' AND at <= ? "
                                    "AND (expires_at IS NULL OR expires_at > ?) ORDER BY at DESC, id DESC", (t, t))]


def expire(tx: Tx, update_id: int, now: datetime) -> UpdateRow | None:
    """Take a notice down now, if it is still up; None when it was not (already expired, or gone)."""
    t = tx.db.ts(now)
    r = tx.one(f"UPDATE status_updates SET expires_at = ? WHERE id = ? AND kind = 'notice' "
               f"AND (expires_at IS NULL OR expires_at > ?) RETURNING {_COLS}", (t, update_id, t))
    return _row(r) if r else None
