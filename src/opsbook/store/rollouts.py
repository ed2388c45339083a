"""Owner of rollouts, rollout_measurements and rollout_events: the canary gate's record.

A rollout is one ``opsbook gate canary`` run: its targets, its status (running, then promoted,
rolled_back, inconclusive, aborted or could_not_measure) and the reason. Its measurements (metric,
target, samples summarised, outcome) and events (steps, decisions, commands run with their exit
codes) are rows appended as they happen, so an interrupted run leaves what it saw. Finishing is a
compare-and-set on the status (``WHERE status = 'running'``): a run is finished once.
ops/canary.py decides; render/canary.py renders the record; web/api_rollouts.py shows it (bounded reads:
``measurements``/``events`` with a ``limit`` keep the newest, ``count`` says how many there are).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (85, "canary gate: rollouts, their measurements and events", [
        """CREATE TABLE rollouts (
            id {id},
            canary TEXT NOT NULL,
            canary_url TEXT NOT NULL,
            baseline_url TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            score DOUBLE PRECISION,
            env TEXT,
            started_at {ts} NOT NULL,
            finished_at {ts},
            detail {json} NOT NULL)""",
        "CREATE INDEX ix_rollouts_canary ON rollouts (canary, id)",
        """CREATE TABLE rollout_measurements (
            id {id},
            rollout_id {bigint} NOT NULL,
            step INTEGER NOT NULL,
            metric TEXT NOT NULL,
            target TEXT NOT NULL,
            at {ts} NOT NULL,
            outcome TEXT NOT NULL,
            result DOUBLE PRECISION,
            n INTEGER NOT NULL,
            low DOUBLE PRECISION,
            median DOUBLE PRECISION,
            high DOUBLE PRECISION,
            message TEXT NOT NULL)""",
        "CREATE INDEX ix_rollout_measurements_rollout ON rollout_measurements (rollout_id, id)",
        """CREATE TABLE rollout_events (
            id {id},
            rollout_id {bigint} NOT NULL,
            at {ts} NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            exit_code INTEGER,
            detail {json} NOT NULL)""",
        "CREATE INDEX ix_rollout_events_rollout ON rollout_events (rollout_id, id)",
    ]),
]

TABLES: tuple[str, ...] = ("rollouts", "rollout_measurements", "rollout_events")

RUNNING = "running"
FINAL = ("promoted", "rolled_back", "inconclusive", "aborted", "could_not_measure")
_COLS = "id, canary, canary_url, baseline_url, status, reason, score, env, started_at, finished_at, detail"


@dataclass(frozen=True)
class RolloutRow:
    id: int
    canary: str
    canary_url: str
    baseline_url: str
    status: str
    reason: str
    score: float | None
    env: str | None
    started_at: datetime
    finished_at: datetime | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class MeasurementRow:
    step: int
    metric: str
    target: str
    at: datetime
    outcome: str
    result: float | None
    n: int
    low: float | None
    median: float | None
    high: float | None
    message: str


@dataclass(frozen=True)
class EventRow:
    at: datetime
    kind: str  # step | command | decision | rollback | promote
    message: str
    exit_code: int | None
    detail: dict[str, Any]


def _row(r: tuple[Any, ...]) -> RolloutRow:
    return RolloutRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], None if r[6] is None else float(r[6]), r[7],
                      parse_ts(r[8]), maybe_ts(r[9]), load_json(r[10]))


def start(tx: Tx, canary: str, canary_url: str, baseline_url: str, env: str | None, at: datetime) -> RolloutRow:
    r = tx.one(f"INSERT INTO rollouts (canary, canary_url, baseline_url, status, reason, env, started_at, detail) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
               (canary, canary_url, baseline_url, RUNNING, "", env, tx.db.ts(at), tx.db.json({})))
    assert r is not None
    return _row(r)


def finish(tx: Tx, rollout_id: int, status: str, reason: str, score: float | None, at: datetime,
           detail: dict[str, Any]) -> RolloutRow | None:
    """running -> a final status; None when it was already finished (compare-and-set)."""
    assert status in FINAL, status
    r = tx.one(f"UPDATE rollouts SET status = ?, reason = ?, score = ?, finished_at = ?, detail = ? "
               f"WHERE id = ? AND status = ? RETURNING {_COLS}",
               (status, reason, score, tx.db.ts(at), tx.db.json(detail), rollout_id, RUNNING))
    return _row(r) if r else None


def add_measurement(tx: Tx, rollout_id: int, step: int, metric: str, target: str, at: datetime, outcome: str,
                    result: float | None, samples: Sequence[float], message: str) -> None:
    n = len(samples)
    low, mid, high = (min(samples), statistics.median(samples), max(samples)) if n else (None, None, None)
    tx.execute("INSERT INTO rollout_measurements (rollout_id, step, metric, target, at, outcome, result, n, low, "
               "median, high, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (rollout_id, step, metric, target, tx.db.ts(at), outcome, result, n, low, mid, high, message))


def add_event(tx: Tx, rollout_id: int, at: datetime, kind: str, message: str, exit_code: int | None = None,
              detail: dict[str, Any] | None = None) -> None:
    tx.execute("INSERT INTO rollout_events (rollout_id, at, kind, message, exit_code, detail) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (rollout_id, tx.db.ts(at), kind, message, exit_code, tx.db.json(detail or {})))


def get(tx: Tx, rollout_id: int) -> RolloutRow | None:
    r = tx.one(f"SELECT {_COLS} FROM rollouts WHERE id = ?", (rollout_id,))
    return _row(r) if r else None


def latest(tx: Tx, canary: str | None = None, limit: int = 20) -> list[RolloutRow]:
    if canary is None:
        rows = tx.all(f"SELECT {_COLS} FROM rollouts ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = tx.all(f"SELECT {_COLS} FROM rollouts WHERE canary = ? ORDER BY id DESC LIMIT ?", (canary, limit))
    return [_row(r) for r in rows]


def _in_order(tx: Tx, table: str, cols: str, rollout_id: int, limit: int | None) -> list[tuple[Any, ...]]:
    """A rollout's rows of ``table`` in the order written; with ``limit``, only the newest ``limit``."""
    if limit is None:
        return tx.all(f"SELECT {cols} FROM {table} WHERE rollout_id = ? ORDER BY id", (rollout_id,))
    return tx.all(f"SELECT {cols} FROM {table} WHERE rollout_id = ? ORDER BY id DESC LIMIT ?",
                  (rollout_id, limit))[::-1]


def measurements(tx: Tx, rollout_id: int, limit: int | None = None) -> list[MeasurementRow]:
    """In the order taken; with ``limit``, only the newest ``limit`` of them (count() tells the rest)."""
    rows = _in_order(tx, "rollout_measurements",
                     "id, step, metric, target, at, outcome, result, n, low, median, high, message", rollout_id, limit)
    return [MeasurementRow(int(r[1]), r[2], r[3], parse_ts(r[4]), r[5], r[6], int(r[7]), r[8], r[9], r[10], r[11])
            for r in rows]


def count(tx: Tx, rollout_id: int) -> tuple[int, int]:
    """(measurements, events) recorded for a rollout: what a bounded read left out."""
    m = tx.one("SELECT COUNT(*) FROM rollout_measurements WHERE rollout_id = ?", (rollout_id,))
    e = tx.one("SELECT COUNT(*) FROM rollout_events WHERE rollout_id = ?", (rollout_id,))
    return (int(m[0]) if m else 0, int(e[0]) if e else 0)


def events(tx: Tx, rollout_id: int, limit: int | None = None) -> list[EventRow]:
    """In the order they happened; with ``limit``, only the newest ``limit`` of them."""
    rows = _in_order(tx, "rollout_events", "id, at, kind, message, exit_code, detail", rollout_id, limit)
    return [EventRow(parse_ts(r[1]), r[2], r[3], None if r[4] is None else int(r[4]), load_json(r[5])) for r in rows]
