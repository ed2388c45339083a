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
