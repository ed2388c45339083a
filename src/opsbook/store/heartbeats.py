"""Owner of heartbeat_pings: one row per ping (start, success, fail) of a heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .db import Tx, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (11, "heartbeat pings", [
        """CREATE TABLE heartbeat_pings (
            id {id},
            name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            signal TEXT NOT NULL,
            at {ts} NOT NULL,
            body TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_heartbeat_pings_name_at ON heartbeat_pings (name, env, at)",
    ]),
]

TABLES: tuple[str, ...] = ("heartbeat_pings",)


def record(tx: Tx, name: str, env: str, signal: str, at: datetime, body: str) -> None:
    tx.execute("INSERT INTO heartbeat_pings (name, env, signal, at, body) VALUES (?, ?, ?, ?, ?)",
               (name, env, signal, tx.db.ts(at), body))


def last_ping(tx: Tx, name: str, env: str, now: datetime) -> tuple[str, Any, str] | None:
    """(signal, at as stored, body) of the newest ping at or before ``now``."""
    row = tx.one("SELECT signal, at, body FROM heartbeat_pings WHERE name = ? AND env = ? AND at <= ? "
                 "ORDER BY at DESC, id DESC LIMIT 1", (name, env, tx.db.ts(now)))
    return None if row is None else (row[0], row[1], row[2])


def last_success(tx: Tx, name: str, env: str, now: datetime) -> datetime | None:
    row = tx.one("SELECT at FROM heartbeat_pings WHERE name = ? AND env = ? AND signal = 'success' "
                 "AND at <= ? ORDER BY at DESC LIMIT 1", (name, env, tx.db.ts(now)))
    return parse_ts(row[0]) if row else None


def prune(tx: Tx, before: Any) -> int:
    """Delete pings older than ``before`` (a dialect timestamp), except each heartbeat's last ping
    and last success; returns rows deleted."""
    return int(tx.execute(
        "DELETE FROM heartbeat_pings WHERE at < ? "
        "AND id NOT IN (SELECT max(id) FROM heartbeat_pings GROUP BY name, env) "
        "AND id NOT IN (SELECT max(id) FROM heartbeat_pings WHERE signal = ? GROUP BY name, env)",
        (before, "success")).rowcount)
