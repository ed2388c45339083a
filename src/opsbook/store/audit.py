"""Owner of api_audit: every API mutation (and every refused one) with who, what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.secrets import redactor
from .db import Tx, load_json, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (40, "check history rollups, their watermarks, the API audit log", [
        """CREATE TABLE api_audit (
            id {id},
            at {ts} NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            remote TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL,
            detail {json})""",
        "CREATE INDEX ix_api_audit_at ON api_audit (at)",
    ]),
]

TABLES: tuple[str, ...] = ("api_audit",)


def insert(tx: Tx, *, at: datetime, actor: str, role: str, action: str, target: str, remote: str,
           outcome: str, detail: dict[str, Any] | None = None) -> int:
    """A new row (detail redacted); returns its id."""
    db = tx.db
    row = tx.one("INSERT INTO api_audit (at, actor, role, action, target, remote, outcome, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                 (db.ts(at), actor, role, action, target, remote, outcome, db.json(redactor.redact(detail))))
    assert row is not None
    return int(row[0])


def update_detail(tx: Tx, row_id: int, detail: dict[str, Any]) -> None:
    tx.execute("UPDATE api_audit SET detail = ? WHERE id = ?", (tx.db.json(redactor.redact(detail)), row_id))


def recent(tx: Tx, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, at, actor, role, action, target, remote, outcome, detail FROM api_audit"
    params: tuple[Any, ...] = ()
    if before is not None:
        sql, params = sql + " WHERE id < ?", (before,)
    rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [{"id": int(i), "at": parse_ts(at).isoformat(), "actor": actor, "role": role, "action": action,
             "target": target, "remote": remote, "outcome": outcome, "detail": load_json(detail)}
            for i, at, actor, role, action, target, remote, outcome, detail in rows]


def prune(tx: Tx, before: Any) -> int:
    return int(tx.execute("DELETE FROM api_audit WHERE at < ?", (before,)).rowcount)
