"""Owner of incident_escalations: where each incident is on its escalation policy's ladder.

One row per escalated incident: the policy chosen at declaration, the level to fire next and
the round (repeats), when it is due, who holds it (claimed_by until claimed_until) and why it
stopped. Every step is compare-and-set on (next_level, round): a worker claims the row only if
it is still at the level it read and nobody's claim is live, and advances it only if it still
holds that claim; two daemons sharing one PostgreSQL store therefore never fire a level twice,
and a killed worker's claim lapses so the next one fires the same level. ops/escalation.py
decides what a step does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .db import Tx, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (64, "escalation: each incident's place on its policy's ladder", [
        """CREATE TABLE incident_escalations (
            incident_id {bigint} PRIMARY KEY,
            policy TEXT NOT NULL,
            next_level INTEGER NOT NULL DEFAULT 0,
            round INTEGER NOT NULL DEFAULT 0,
            next_at {ts},
            claimed_by TEXT,
            claimed_until {ts},
            last_level INTEGER,
            last_round INTEGER,
            last_at {ts},
            stopped TEXT,
            stopped_at {ts},
            started_at {ts} NOT NULL,
            updated_at {ts} NOT NULL)""",
        # the step's one query: the live rows that are due
        "CREATE INDEX ix_incident_escalations_due ON incident_escalations (stopped, next_at)",
    ]),
]

TABLES: tuple[str, ...] = ("incident_escalations",)

_COLS = ("incident_id, policy, next_level, round, next_at, claimed_by, claimed_until, last_level, last_round, "
         "last_at, stopped, stopped_at, started_at, updated_at")


@dataclass(frozen=True)
class EscalationRow:
    incident_id: int
    policy: str
    next_level: int
    round: int
    next_at: datetime | None
    claimed_by: str | None
    claimed_until: datetime | None
    last_level: int | None
    last_round: int | None
    last_at: datetime | None
    stopped: str | None
    stopped_at: datetime | None
    started_at: datetime
    updated_at: datetime


def _row(r: tuple[Any, ...]) -> EscalationRow:
    return EscalationRow(int(r[0]), r[1], int(r[2]), int(r[3]), maybe_ts(r[4]), r[5], maybe_ts(r[6]),
                         None if r[7] is None else int(r[7]), None if r[8] is None else int(r[8]), maybe_ts(r[9]),
                         r[10], maybe_ts(r[11]), parse_ts(r[12]), parse_ts(r[13]))


def start(tx: Tx, incident_id: int, policy: str, first_at: datetime, now: datetime) -> bool:
    """The incident's ladder, level 0 due at ``first_at``; False when it already has one."""
    db = tx.db
    cur = tx.execute(
        "INSERT INTO incident_escalations (incident_id, policy, next_level, round, next_at, started_at, updated_at) "
        "VALUES (?, ?, 0, 0, ?, ?, ?) ON CONFLICT (incident_id) DO NOTHING",
        (incident_id, policy, db.ts(first_at), db.ts(now), db.ts(now)))
    return bool(cur.rowcount == 1)


def get(tx: Tx, incident_id: int) -> EscalationRow | None:
    r = tx.one(f"SELECT {_COLS} FROM incident_escalations WHERE incident_id = ?", (incident_id,))
    return _row(r) if r else None


def due(tx: Tx, now: datetime, limit: int) -> list[EscalationRow]:
    """Live rows whose next level is due and that nobody holds, the longest-waiting first."""
    t = tx.db.ts(now)
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM incident_escalations WHERE stopped IS NULL AND next_at <= ? "
        "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_at, incident_id LIMIT ?", (t, t, limit))]


def claim(tx: Tx, incident_id: int, level: int, rnd: int, worker: str, now: datetime, ttl: float) -> bool:
    """Compare-and-set: hold the row for ``ttl`` seconds if it is still at (level, round), still
    live and nobody's claim is live. False: another worker has it, or it moved on."""
    db = tx.db
    cur = tx.execute(
        "UPDATE incident_escalations SET claimed_by = ?, claimed_until = ?, updated_at = ? "
        "WHERE incident_id = ? AND next_level = ? AND round = ? AND stopped IS NULL "
        "AND (claimed_until IS NULL OR claimed_until < ?)",
        (worker, db.ts(now + timedelta(seconds=ttl)), db.ts(now), incident_id, level, rnd, db.ts(now)))
    return bool(cur.rowcount == 1)


def advance(tx: Tx, incident_id: int, level: int, rnd: int, worker: str, now: datetime, *,
            next_level: int, next_round: int, next_at: datetime | None, stopped: str | None = None) -> bool:
    """Level (level, round) was fired: move to the next one (or stop, ``stopped``) and drop the
    claim, only if ``worker`` still holds it at that level. False: its claim lapsed and another
    worker took the level over; the caller rolls back what it wrote."""
    db = tx.db
    cur = tx.execute(
        "UPDATE incident_escalations SET next_level = ?, round = ?, next_at = ?, last_level = ?, last_round = ?, "
        "last_at = ?, stopped = ?, stopped_at = ?, claimed_by = NULL, claimed_until = NULL, updated_at = ? "
        "WHERE incident_id = ? AND next_level = ? AND round = ? AND claimed_by = ? AND stopped IS NULL",
        (next_level, next_round, db.ts(next_at), level, rnd, db.ts(now), stopped, db.ts(now) if stopped else None,
         db.ts(now), incident_id, level, rnd, worker))
    return bool(cur.rowcount == 1)


def stop(tx: Tx, incident_id: int, reason: str, now: datetime) -> bool:
    """Stop the ladder (the incident was acknowledged, resolved...); False when already stopped."""
    db = tx.db
    cur = tx.execute(
        "UPDATE incident_escalations SET stopped = ?, stopped_at = ?, next_at = NULL, claimed_by = NULL, "
        "claimed_until = NULL, updated_at = ? WHERE incident_id = ? AND stopped IS NULL",
        (reason, db.ts(now), db.ts(now), incident_id))
    return bool(cur.rowcount == 1)


def hurry(tx: Tx, incident_id: int, now: datetime) -> bool:
    """Make the next level due now (a manual escalation); False when the ladder has stopped."""
    db = tx.db
    cur = tx.execute("UPDATE incident_escalations SET next_at = ?, updated_at = ? "
                     "WHERE incident_id = ? AND stopped IS NULL", (db.ts(now), db.ts(now), incident_id))
    return bool(cur.rowcount == 1)


def release(tx: Tx, worker: str) -> int:
    """Drop this worker's claims (a process abandoning its work): the next one goes on at once."""
    return int(tx.execute("UPDATE incident_escalations SET claimed_by = NULL, claimed_until = NULL "
                          "WHERE claimed_by = ?", (worker,)).rowcount)
