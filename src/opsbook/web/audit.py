"""The audit log: every mutation (and every refused one) with who, what, when, from where.
The rows are store/audit.py's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..store import audit as rows
from ..store.store import Store


def record(store: Store, *, at: datetime, actor: str, role: str, action: str, target: str, remote: str,
           outcome: str, detail: dict[str, Any] | None = None) -> None:
    with store.transaction() as tx:
        rows.insert(tx, at=at, actor=actor, role=role, action=action, target=target, remote=remote,
                    outcome=outcome, detail=detail)


def insert(store: Store, *, at: datetime, actor: str, role: str, action: str, target: str, remote: str,
           outcome: str, detail: dict[str, Any] | None = None) -> int:
    """``record`` that returns the new row's id (for a row updated later, e.g. a refusal count)."""
    with store.transaction() as tx:
        return rows.insert(tx, at=at, actor=actor, role=role, action=action, target=target, remote=remote,
                           outcome=outcome, detail=detail)


def update_detail(store: Store, row_id: int, detail: dict[str, Any]) -> None:
    with store.transaction() as tx:
        rows.update_detail(tx, row_id, detail)


def recent(store: Store, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        return rows.recent(tx, limit, before)
