"""Owner of oncall_overrides: someone takes a schedule's shift between two times. An override
wins over every layer of its schedule; of two overlapping overrides the later-created wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import Tx, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (50, "on-call: schedule overrides", [
        """CREATE TABLE oncall_overrides (
            id TEXT PRIMARY KEY,
            schedule TEXT NOT NULL,
            person TEXT NOT NULL,
            starts_at {ts} NOT NULL,
            ends_at {ts} NOT NULL,
            created_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_at {ts} NOT NULL)""",
        "CREATE INDEX ix_oncall_overrides_schedule ON oncall_overrides (schedule, ends_at)",
    ]),
]

TABLES: tuple[str, ...] = ("oncall_overrides",)

_COLS = "id, schedule, person, starts_at, ends_at, created_by, reason, created_at"


@dataclass(frozen=True)
class OverrideRow:
    id: str
    schedule: str
    person: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "schedule": self.schedule, "person": self.person,
                "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "created_by": self.created_by, "reason": self.reason, "created_at": self.created_at.isoformat()}


def _row(r: tuple[Any, ...]) -> OverrideRow:
    return OverrideRow(r[0], r[1], r[2], parse_ts(r[3]), parse_ts(r[4]), r[5], r[6], parse_ts(r[7]))


def add(tx: Tx, o: OverrideRow) -> None:
    db = tx.db
    tx.execute(f"INSERT INTO oncall_overrides ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (o.id, o.schedule, o.person, db.ts(o.starts_at), db.ts(o.ends_at), o.created_by, o.reason,
                db.ts(o.created_at)))


def overlapping(tx: Tx, schedule: str, start: datetime, end: datetime) -> list[OverrideRow]:
    """The schedule's overrides that overlap [start, end), oldest-created first (later ones win)."""
    db = tx.db
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM oncall_overrides WHERE schedule = ? AND starts_at < ? AND ends_at > ? "
        "ORDER BY created_at, id", (schedule, db.ts(end), db.ts(start)))]


def delete(tx: Tx, override_id: str) -> bool:
    """Remove one override; False when there was none with this id (someone else removed it)."""
    return tx.one("DELETE FROM oncall_overrides WHERE id = ? RETURNING id", (override_id,)) is not None


def listing(tx: Tx, schedule: str | None, ends_after: datetime | None, limit: int = 1000) -> list[OverrideRow]:
    """Overrides (of ``schedule``, or all) ending after ``ends_after`` (None: every one), by start."""
    where, params = [], []  # type: tuple[list[str], list[Any]]
    if schedule is not None:
        where.append("schedule = ?")
        params.append(schedule)
    if ends_after is not None:
        where.append("ends_at > ?")
        params.append(tx.db.ts(ends_after))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM oncall_overrides {clause} "
                                    "ORDER BY starts_at, created_at, id LIMIT ?", (*params, limit))]


def get(tx: Tx, override_id: str) -> OverrideRow | None:
    r = tx.one(f"SELECT {_COLS} FROM oncall_overrides WHERE id = ?", (override_id,))
    return _row(r) if r else None
