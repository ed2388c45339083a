"""Owner of db_snapshots: `opsbook db report --record` and `serve`'s scheduled snapshots of a
PostgreSQL resource's diagnostics (the report's JSON, bounded), which an incident timeline links."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.secrets import redactor
from .db import Tx, load_json, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (100, "database diagnostics snapshots", [
        """CREATE TABLE db_snapshots (
            id {id},
            resource TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            taken_at {ts} NOT NULL,
            taken_by TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            doc {json})""",
        "CREATE INDEX ix_db_snapshots_taken ON db_snapshots (taken_at)",
        "CREATE INDEX ix_db_snapshots_resource ON db_snapshots (resource, env, id)",
    ]),
]

TABLES: tuple[str, ...] = ("db_snapshots",)

MAX_DOC_BYTES = 1_000_000  # a report is bounded by its LIMITs; this bounds what a row may hold
KEEP = 2000  # newest snapshots kept per (resource, env); about three weeks at one per 15 minutes


@dataclass(frozen=True)
class Snapshot:
    id: int
    resource: str
    env: str
    taken_at: datetime
    taken_by: str
    summary: str
    doc: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "env": self.env, "taken_at": self.taken_at.isoformat(),
                "taken_by": self.taken_by, "summary": self.summary, "doc": self.doc}


def bounded(doc: dict[str, Any]) -> dict[str, Any]:
    """The document, or (over MAX_DOC_BYTES) each report cut to its status and counts."""
    if len(json.dumps(doc, default=str)) <= MAX_DOC_BYTES:
        return doc
    reports = {n: {k: v for k, v in r.items() if not isinstance(v, list | dict)}
               for n, r in (doc.get("reports") or {}).items()}
    return {**{k: v for k, v in doc.items() if k != "reports"}, "reports": reports, "truncated": True}


def insert(tx: Tx, *, resource: str, env: str, taken_at: datetime, taken_by: str, summary: str,
           doc: dict[str, Any]) -> int:
    """A new snapshot (redacted, bounded); older ones beyond KEEP for the resource are deleted."""
    db = tx.db
    row = tx.one("INSERT INTO db_snapshots (resource, env, taken_at, taken_by, summary, doc) "
                 "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                 (resource, env, db.ts(taken_at), taken_by, redactor.text(summary)[:500],
                  db.json(redactor.redact(bounded(doc)))))
    assert row is not None
    new = int(row[0])
    if new > KEEP:  # ids grow across resources, so this keeps at least KEEP of this one's
        tx.execute("DELETE FROM db_snapshots WHERE resource = ? AND env = ? AND id <= ? AND id NOT IN "
                   "(SELECT id FROM (SELECT id FROM db_snapshots WHERE resource = ? AND env = ? "
                   "ORDER BY id DESC LIMIT ?) AS newest)", (resource, env, new - KEEP, resource, env, KEEP))
    return new


_COLS = "id, resource, env, taken_at, taken_by, summary"


def _row(r: Any, doc: Any = None) -> Snapshot:
    return Snapshot(int(r[0]), r[1], r[2], parse_ts(r[3]), r[4], r[5], load_json(doc))


def get(tx: Tx, snapshot_id: int) -> Snapshot | None:
    r = tx.one(f"SELECT {_COLS}, doc FROM db_snapshots WHERE id = ?", (snapshot_id,))
    return _row(r, r[6]) if r else None


def latest(tx: Tx, resource: str | None, limit: int = 20) -> list[Snapshot]:
    """Newest first, without their documents."""
    if resource is None:
        rows = tx.all(f"SELECT {_COLS} FROM db_snapshots ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = tx.all(f"SELECT {_COLS} FROM db_snapshots WHERE resource = ? ORDER BY id DESC LIMIT ?",
                      (resource, limit))
    return [_row(r) for r in rows]


def taken_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[Snapshot]:
    """Snapshots taken in ``start`` .. ``end``, newest first, without their documents."""
    db = tx.db
    rows = tx.all(f"SELECT {_COLS} FROM db_snapshots WHERE taken_at >= ? AND taken_at <= ? "
                  "ORDER BY taken_at DESC, id DESC LIMIT ?", (db.ts(start), db.ts(end), limit))
    return [_row(r) for r in rows]
