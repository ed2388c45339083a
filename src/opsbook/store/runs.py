"""Owner of ``runs``: gate, smoke and job runs (backup, drill, integrity...), one row each with
the rendered JSON document. Functions take the transaction they run in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.secrets import redactor
from .db import Tx, load_json, maybe_ts, parse_ts
from .windows import window_counts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "check results, state, flips and runs", [
        # gate, smoke and job runs: one row each, with the rendered JSON document
        """CREATE TABLE runs (
            id {id},
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            ok {bool} NOT NULL,
            started_at {ts} NOT NULL,
            finished_at {ts},
            detail {json},
            error {json})""",
        "CREATE INDEX ix_runs_kind_name ON runs (kind, name, started_at)",
    ]),
]

TABLES: tuple[str, ...] = ("runs",)

_KEYS = ("id", "kind", "name", "env", "status", "ok", "started_at", "finished_at", "detail", "error")


def record(tx: Tx, kind: str, name: str, *, ok: bool, status: str, started_at: datetime,
           finished_at: datetime | None, detail: dict[str, Any] | None, env: str | None = None,
           error: dict[str, Any] | None = None) -> int:
    """Insert a run (its detail and error redacted); returns its id."""
    db = tx.db
    row = tx.one(
        "INSERT INTO runs (kind, name, env, status, ok, started_at, finished_at, detail, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (kind, name, env or "", status, ok, db.ts(started_at), db.ts(finished_at),
         db.json(redactor.redact(detail)), db.json(redactor.redact(error))))
    assert row is not None
    return int(row[0])


def latest(tx: Tx, kind: str | None = None, limit: int = 50, name: str | None = None) -> list[dict[str, Any]]:
    """Runs newest first, as dicts (times parsed, documents loaded)."""
    sql = "SELECT id, kind, name, env, status, ok, started_at, finished_at, detail, error FROM runs"
    where, params = [], []
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if name is not None:
        where.append("name = ?")
        params.append(name)
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    out = []
    for row in rows:
        d = dict(zip(_KEYS, row, strict=True))
        d["ok"] = bool(d["ok"])
        d["started_at"] = parse_ts(d["started_at"])
        d["finished_at"] = maybe_ts(d["finished_at"])
        d["detail"], d["error"] = load_json(d["detail"]), load_json(d["error"])
        out.append(d)
    return out


def recent_outcomes(tx: Tx, kind: str, name: str, env: str, now: datetime,
                    limit: int) -> list[tuple[str, bool, datetime]]:
    """(status, ok, finished or started at) of the latest ``limit`` runs started by ``now``, newest first."""
    out = []
    for status, ok, started, finished in tx.all(
            "SELECT status, ok, started_at, finished_at FROM runs WHERE kind = ? AND name = ? AND env = ? "
            f"AND started_at <= ? ORDER BY started_at DESC LIMIT {max(int(limit), 1)}",
            (kind, name, env, tx.db.ts(now))):
        end = finished if finished is not None else started
        out.append((status, bool(ok), parse_ts(end)))
    return out


def last_success(tx: Tx, kind: str, name: str, env: str, now: datetime) -> datetime | None:
    """When the newest successful run started by ``now`` ended (or started, when it has no end)."""
    row = tx.one("SELECT COALESCE(finished_at, started_at) FROM runs WHERE kind = ? AND name = ? AND env = ? "
                 "AND ok = ? AND started_at <= ? ORDER BY started_at DESC LIMIT 1",
                 (kind, name, env, True, tx.db.ts(now)))
    return parse_ts(row[0]) if row else None


def window_total(tx: Tx, kind: str, name: str, env: str, seconds: float, now: datetime) -> tuple[int, int]:
    """(runs, failed runs) started in (now - seconds, now]."""
    db = tx.db
    row = tx.one("SELECT count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM runs "
                 "WHERE kind = ? AND name = ? AND env = ? AND started_at > ? AND started_at <= ?",
                 (kind, name, env, db.ts(now - timedelta(seconds=seconds)), db.ts(now)))
    return (int(row[0]), int(row[1] or 0)) if row else (0, 0)


def slo_counts(tx: Tx, kind: str, name: str, env: str, starts: list[datetime], now: datetime,
               excluded: list[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    """(runs, failed runs) started in (start, now] for each start, in one query."""
    return window_counts(tx, "runs", "started_at", "kind = ? AND name = ? AND env = ?", [kind, name, env],
                         "CASE WHEN ok THEN 0 ELSE 1 END", [], starts, now, excluded)


def started_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
    """Runs of every kind started at ``start`` .. ``end``, newest first, at most ``limit``, as
    ``latest()`` returns them (without their documents: a timeline links to them)."""
    db = tx.db
    rows = tx.all("SELECT id, kind, name, env, status, ok, started_at, finished_at FROM runs "
                  "WHERE started_at >= ? AND started_at <= ? ORDER BY started_at DESC, id DESC LIMIT ?",
                  (db.ts(start), db.ts(end), limit))
    return [{"id": int(i), "kind": k, "name": n, "env": e, "status": s, "ok": bool(ok), "started_at": parse_ts(st),
             "finished_at": maybe_ts(fin)} for i, k, n, e, s, ok, st, fin in rows]


def count_started_between(tx: Tx, start: datetime, end: datetime) -> int:
    r = tx.one("SELECT count(*) FROM runs WHERE started_at >= ? AND started_at <= ?", (tx.db.ts(start), tx.db.ts(end)))
    return int(r[0]) if r else 0


def prune(tx: Tx, before: Any, keep: int) -> int:
    """Delete runs started before ``before`` (a dialect timestamp), except each (kind, name, env)'s
    newest ``keep`` runs and its last successful one; returns rows deleted."""
    return int(tx.execute(
        "DELETE FROM runs WHERE started_at < ? AND id NOT IN (SELECT id FROM (SELECT id, row_number() OVER "
        "(PARTITION BY kind, name, env ORDER BY started_at DESC, id DESC) AS n FROM runs) newest WHERE n <= ?) "
        "AND id NOT IN (SELECT max(id) FROM runs WHERE ok = ? GROUP BY kind, name, env)",
        (before, keep, True)).rowcount)
