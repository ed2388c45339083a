"""Owner of incident_actions: the follow-up work an incident leaves (an action item: what, who,
by when). An item is open until it is done; marking it done is a compare-and-set on its status
(``UPDATE ... WHERE status = 'open' RETURNING``), so of two people closing it one wins.
ops/incident_action.py decides what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .db import Tx, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (61, "incidents: action items", [
        """CREATE TABLE incident_actions (
            id {id},
            incident_id {bigint} NOT NULL,
            text TEXT NOT NULL,
            owner TEXT,
            due TEXT,
            status TEXT NOT NULL,
            created_at {ts} NOT NULL,
            created_by TEXT NOT NULL,
            done_at {ts},
            done_by TEXT)""",
        "CREATE INDEX ix_incident_actions_incident ON incident_actions (incident_id, id)",
        "CREATE INDEX ix_incident_actions_status ON incident_actions (status, due)",
    ]),
]

TABLES: tuple[str, ...] = ("incident_actions",)

OPEN, DONE = "open", "done"
_COLS = "id, incident_id, text, owner, due, status, created_at, created_by, done_at, done_by"


@dataclass(frozen=True)
class ActionRow:
    id: int
    incident_id: int
    text: str
    owner: str | None
    due: date | None  # a calendar date, stored as YYYY-MM-DD
    status: str
    created_at: datetime
    created_by: str
    done_at: datetime | None
    done_by: str | None


def _row(r: tuple[Any, ...]) -> ActionRow:
    return ActionRow(int(r[0]), int(r[1]), r[2], r[3], date.fromisoformat(r[4]) if r[4] else None, r[5],
                     parse_ts(r[6]), r[7], maybe_ts(r[8]), r[9])


def insert(tx: Tx, incident_id: int, text: str, owner: str | None, due: date | None, at: datetime,
           actor: str) -> ActionRow:
    r = tx.one(f"INSERT INTO incident_actions (incident_id, text, owner, due, status, created_at, created_by) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
               (incident_id, text, owner, due.isoformat() if due else None, OPEN, tx.db.ts(at), actor))
    assert r is not None
    return _row(r)


def get(tx: Tx, action_id: int) -> ActionRow | None:
    r = tx.one(f"SELECT {_COLS} FROM incident_actions WHERE id = ?", (action_id,))
    return _row(r) if r else None


def mark_done(tx: Tx, action_id: int, at: datetime, actor: str) -> ActionRow | None:
    """Open -> done; None when it was not open any more (or does not exist)."""
    r = tx.one(f"UPDATE incident_actions SET status = ?, done_at = ?, done_by = ? WHERE id = ? AND status = ? "
               f"RETURNING {_COLS}", (DONE, tx.db.ts(at), actor, action_id, OPEN))
    return _row(r) if r else None


def listing(tx: Tx, incident_id: int | None, open_only: bool, limit: int) -> list[ActionRow]:
    """Action items in creation order: one incident's (all of them), or every incident's."""
    where: list[str] = []
    params: list[Any] = []
    if incident_id is not None:
        where.append("incident_id = ?")
        params.append(incident_id)
    if open_only:
        where.append("status = ?")
        params.append(OPEN)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM incident_actions {clause} ORDER BY id LIMIT ?",
                                    (*params, limit))]
