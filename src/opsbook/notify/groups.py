"""Alert groups as rows (``notify_groups``): what each group holds, what was last sent, its
timers, its stable PagerDuty dedup_key and its acknowledgement."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import UsageError
from ..store.db import Tx, load_json, parse_ts
from ..store.store import Store

COLS = ("group_key, group_id, route, receivers, labels, alerts, notified, dedup_key, seq, created_at, updated_at, "
        "next_flush_at, last_notified_at, acked_by, acked_at, ack_comment")


def group_id(group_key: str) -> str:
    """A short handle for people and URLs (`opsbook alerts ack 3f2a9c01b7d4`)."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:12]


def pagerduty_dedup_key(group_key: str) -> str:
    """Stable per group: a resolve and an acknowledge name the alert the trigger opened."""
    return "opsbook-" + hashlib.sha256(group_key.encode()).hexdigest()[:32]


def _ts(v: Any) -> datetime | None:
    return parse_ts(v) if v is not None else None


@dataclass
class Group:
    group_key: str
    group_id: str
    route: str
    receivers: list[dict[str, str]]  # [{"name": ..., "kind": ...}]
    labels: dict[str, str]
    alerts: list[dict[str, Any]]  # the latest snapshot, AlertInstance.to_dict() + "muted"
    notified: list[str]  # fingerprints last sent as firing
    dedup_key: str
    seq: int
    created_at: datetime
    updated_at: datetime
    next_flush_at: datetime | None
    last_notified_at: datetime | None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        firing = [a for a in self.alerts if a.get("state") == "firing"]
        return {
            "group_key": self.group_key, "id": self.group_id, "route": self.route,
            "receivers": [r["name"] for r in self.receivers], "labels": self.labels, "alerts": self.alerts,
            "firing": len(firing), "muted": sum(1 for a in firing if a.get("muted")),
            "created_at": iso(self.created_at), "last_notified_at": iso(self.last_notified_at),
            "next_flush_at": iso(self.next_flush_at), "acked_by": self.acked_by, "acked_at": iso(self.acked_at),
            "ack_comment": self.ack_comment, "dedup_key": self.dedup_key,
        }


def row_to_group(r: tuple[Any, ...]) -> Group:
    return Group(r[0], r[1], r[2], load_json(r[3]), load_json(r[4]), load_json(r[5]), load_json(r[6]), r[7],
                 int(r[8]), parse_ts(r[9]), parse_ts(r[10]), _ts(r[11]), _ts(r[12]), r[13], _ts(r[14]), r[15] or "")


def load(tx: Tx, group_key: str) -> Group | None:
    r = tx.one(f"SELECT {COLS} FROM notify_groups WHERE group_key = ?", (group_key,))
    return row_to_group(r) if r else None


def all_keys(store: Store) -> list[str]:
    with store.db.transaction() as tx:
        return [r[0] for r in tx.all("SELECT group_key FROM notify_groups")]


def list_groups(store: Store) -> list[Group]:
    """Every live alert group, newest first: key, labels, alerts, last notified, acked by."""
    with store.db.transaction() as tx:
        return [row_to_group(r) for r in tx.all(f"SELECT {COLS} FROM notify_groups ORDER BY created_at DESC")]


def find(tx: Tx, key_or_id: str) -> Group:
    """A group by its full key or its id (or an unambiguous id prefix of 4+ characters)."""
    g = load(tx, key_or_id)
    if g:
        return g
    rows = tx.all(f"SELECT {COLS} FROM notify_groups WHERE group_id LIKE ?", (key_or_id + "%",)) \
        if len(key_or_id) >= 4 else []
    if len(rows) == 1:
        return row_to_group(rows[0])
    raise UsageError(f"no alert group {key_or_id!r}" if not rows else f"{key_or_id!r} names several groups",
                     hint="`opsbook notify groups` lists groups with their ids")
