"""The audit log: every mutation (and every refused one) with who, what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.secrets import redactor
from ..store.db import load_json, parse_ts
from ..store.store import Store


def record(store: Store, *, at: datetime, actor: str, role: str, action: str, target: str, remote: str,
           outcome: str, detail: dict[str, Any] | None = None) -> None:
    db = store.db
    with db.transaction() as tx:
        tx.execute("INSERT INTO api_audit (at, actor, role, action, target, remote, outcome, detail) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (db.ts(at), actor, role, action, target, remote, outcome, db.json(redactor.redact(detail))))


def insert(store: Store, *, at: datetime, actor: str, role: str, action: str, target: str, remote: str,
           outcome: str, detail: dict[str, Any] | None = None) -> int:
    """``record`` that returns the new row's id (for a row updated later, e.g. a refusal count)."""
    db = store.db
    with db.transaction() as tx:
        row = tx.one("INSERT INTO api_audit (at, actor, role, action, target, remote, outcome, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                     (db.ts(at), actor, role, action, target, remote, outcome, db.json(redactor.redact(detail))))
    assert row is not None
    return int(row[0])


def update_detail(store: Store, row_id: int, detail: dict[str, Any]) -> None:
    db = store.db
    with db.transaction() as tx:
        tx.execute("UPDATE api_audit SET detail = ? WHERE id = ?", (db.json(redactor.redact(detail)), row_id))


def recent(store: Store, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, at, actor, role, action, target, remote, outcome, detail FROM api_audit"
    params: tuple[Any, ...] = ()
    if before is not None:
        sql, params = sql + " WHERE id < ?", (before,)
    with store.db.transaction() as tx:
        rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [{"id": int(i), "at": parse_ts(at).isoformat(), "actor": actor, "role": role, "action": action,
             "target": target, "remote": remote, "outcome": outcome, "detail": load_json(detail)}
            for i, at, actor, role, action, target, remote, outcome, detail in rows]
