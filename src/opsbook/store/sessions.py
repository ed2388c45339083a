"""Owner of api_sessions: dashboard logins, revocable server-side."""

from __future__ import annotations

from datetime import datetime, timedelta

from .db import Tx, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    # 45, not 41: leaves 41-44 to other web work landing at the same time
    (45, "dashboard sessions, revocable server-side", [
        # one row per login; the signed cookie carries the id. A session is valid while its row is
        # not revoked and not expired (logout and a removed or rotated token revoke it)
        """CREATE TABLE api_sessions (
            id TEXT PRIMARY KEY,
            token_name TEXT NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            revoked_at {ts})""",
        "CREATE INDEX ix_api_sessions_expires ON api_sessions (expires_at)",
    ]),
]

TABLES: tuple[str, ...] = ("api_sessions",)


def create(tx: Tx, sid: str, token_name: str, now: datetime, ttl_s: float) -> None:
    """A new session; rows that ended a day ago are pruned first (logins are rare, so the table never grows)."""
    db = tx.db
    tx.execute("DELETE FROM api_sessions WHERE expires_at < ?", (db.ts(now - timedelta(days=1)),))
    tx.execute("INSERT INTO api_sessions (id, token_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
               (sid, token_name, db.ts(now), db.ts(now + timedelta(seconds=ttl_s))))


def get(tx: Tx, sid: str) -> tuple[str, datetime, bool] | None:
    """(token name, expires at, revoked) of a session."""
    row = tx.one("SELECT token_name, expires_at, revoked_at FROM api_sessions WHERE id = ?", (sid,))
    return None if row is None else (row[0], parse_ts(row[1]), row[2] is not None)


def revoke(tx: Tx, sid: str, now: datetime) -> bool:
    """Compare-and-set: True when this call revoked it."""
    cur = tx.execute("UPDATE api_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                     (tx.db.ts(now), sid))
    return bool(cur.rowcount == 1)
