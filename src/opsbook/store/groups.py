"""Owner of notify_groups: alert groups as rows (what each group holds, what was last sent, its
timers, its stable PagerDuty dedup_key and its acknowledgement). notify/ decides; this stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (20, "notify: alert groups, outbox, silences, receiver status", [
        # one row per alert group (route + group_by label values); survives restarts so timers,
        # what was last sent, the PagerDuty dedup_key and acknowledgements are not lost
        """CREATE TABLE notify_groups (
            group_key TEXT PRIMARY KEY,
            group_id TEXT NOT NULL,
            route TEXT NOT NULL,
            receivers {json} NOT NULL,
            labels {json} NOT NULL,
            alerts {json} NOT NULL,
            notified {json} NOT NULL,
            dedup_key TEXT NOT NULL,
            seq {bigint} NOT NULL DEFAULT 0,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            next_flush_at {ts},
            last_notified_at {ts},
            acked_by TEXT,
            acked_at {ts},
            ack_comment TEXT NOT NULL DEFAULT '')""",
        "CREATE UNIQUE INDEX ux_notify_groups_id ON notify_groups (group_id)",
    ]),
]

TABLES: tuple[str, ...] = ("notify_groups",)

COLS = ("group_key, group_id, route, receivers, labels, alerts, notified, dedup_key, seq, created_at, updated_at, "
        "next_flush_at, last_notified_at, acked_by, acked_at, ack_comment")


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
                 int(r[8]), parse_ts(r[9]), parse_ts(r[10]), maybe_ts(r[11]), maybe_ts(r[12]), r[13], maybe_ts(r[14]),
                 r[15] or "")


def load(tx: Tx, group_key: str) -> Group | None:
    r = tx.one(f"SELECT {COLS} FROM notify_groups WHERE group_key = ?", (group_key,))
    return row_to_group(r) if r else None


def all_keys(tx: Tx) -> list[str]:
    return [r[0] for r in tx.all("SELECT group_key FROM notify_groups")]


def list_groups(tx: Tx) -> list[Group]:
    """Every live alert group, newest first."""
    return [row_to_group(r) for r in tx.all(f"SELECT {COLS} FROM notify_groups ORDER BY created_at DESC")]


def by_id_prefix(tx: Tx, prefix: str) -> list[Group]:
    return [row_to_group(r) for r in tx.all(f"SELECT {COLS} FROM notify_groups WHERE group_id LIKE ?",
                                            (prefix + "%",))]


def create(tx: Tx, g: Group, now: datetime) -> bool:
    """Insert a new group (nothing sent yet); False when another process created it first."""
    db = tx.db
    cur = tx.execute(
        f"INSERT INTO notify_groups ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, NULL, NULL, "
        "NULL, '') ON CONFLICT (group_key) DO NOTHING",
        (g.group_key, g.group_id, g.route, db.json(g.receivers), db.json(g.labels), db.json([]), db.json([]),
         g.dedup_key, db.ts(now), db.ts(now), db.ts(g.next_flush_at)))
    return bool(cur.rowcount == 1)


def set_alerts(tx: Tx, group_key: str, alerts: list[dict[str, Any]], now: datetime) -> None:
    """Refresh the snapshot people see, nothing else."""
    db = tx.db
    tx.execute("UPDATE notify_groups SET alerts = ?, updated_at = ? WHERE group_key = ?",
               (db.json(alerts), db.ts(now), group_key))


def flushed(tx: Tx, group_key: str, old_seq: int, *, alerts: list[dict[str, Any]], notified: list[str], seq: int,
            now: datetime, next_flush_at: datetime, last_notified_at: datetime | None, acked_by: str | None,
            acked_at: datetime | None, ack_comment: str) -> bool:
    """Compare-and-set on seq: the group after a flush; False when another process flushed it first."""
    db = tx.db
    cur = tx.execute(
        "UPDATE notify_groups SET alerts = ?, notified = ?, seq = ?, updated_at = ?, next_flush_at = ?, "
        "last_notified_at = ?, acked_by = ?, acked_at = ?, ack_comment = ? WHERE group_key = ? AND seq = ?",
        (db.json(alerts), db.json(notified), seq, db.ts(now), db.ts(next_flush_at), db.ts(last_notified_at),
         acked_by, db.ts(acked_at), ack_comment, group_key, old_seq))
    return bool(cur.rowcount == 1)


def delete(tx: Tx, group_key: str, seq: int) -> None:
    tx.execute("DELETE FROM notify_groups WHERE group_key = ? AND seq = ?", (group_key, seq))


def acknowledge(tx: Tx, group_key: str, by: str, now: datetime, comment: str) -> None:
    db = tx.db
    tx.execute("UPDATE notify_groups SET acked_by = ?, acked_at = ?, ack_comment = ?, updated_at = ? "
               "WHERE group_key = ?", (by, db.ts(now), comment, db.ts(now), group_key))
