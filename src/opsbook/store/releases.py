"""Owner of releases and release_events: what was deployed where, and what happened to it since.

A release is one row per (service, version, env): the unique index makes ``insert`` idempotent
(a second CI run inserts nothing and reads the row back). Its ``status`` moves by compare-and-set
(``WHERE status = ?``): ``deployed`` (the current one of its service and env), ``rolling_back``
(claimed by a rollback running now: of two rollbacks started at once, one wins), ``superseded``
(a newer one was deployed over it), ``rolled_back`` (a rollback went from it to another).
Events are immutable rows: a rollback's start and finish with its outcome, verify results,
deploy-gate overrides. ops/release.py decides what happens; this module only keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import IntegrityViolation
from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (80, "releases: the release registry and its events", [
        """CREATE TABLE releases (
            id {id},
            service TEXT NOT NULL,
            version TEXT NOT NULL,
            env TEXT NOT NULL,
            commit_sha TEXT,
            committed_at {ts},
            deployed_by TEXT NOT NULL,
            url TEXT,
            recorded_at {ts} NOT NULL,
            status TEXT NOT NULL,
            status_at {ts} NOT NULL)""",
        "CREATE UNIQUE INDEX ux_releases_key ON releases (service, version, env)",
        "CREATE INDEX ix_releases_recorded ON releases (recorded_at)",
        "CREATE INDEX ix_releases_service ON releases (service, env, recorded_at)",
        """CREATE TABLE release_events (
            id {id},
            release_id {bigint},
            service TEXT NOT NULL,
            env TEXT NOT NULL,
            at {ts} NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            detail {json} NOT NULL)""",
        "CREATE INDEX ix_release_events_service ON release_events (service, env, at)",
        "CREATE INDEX ix_release_events_at ON release_events (at)",
    ]),
]

TABLES: tuple[str, ...] = ("releases", "release_events")
STATUSES: tuple[str, ...] = ("deployed", "rolling_back", "superseded", "rolled_back")

_COLS = "id, service, version, env, commit_sha, committed_at, deployed_by, url, recorded_at, status, status_at"


@dataclass(frozen=True)
class ReleaseRow:
    id: int
    service: str
    version: str
    env: str
    commit: str | None
    committed_at: datetime | None
    by: str
    url: str | None
    recorded_at: datetime
    status: str
    status_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "service": self.service, "version": self.version, "env": self.env,
                "commit": self.commit, "committed_at": self.committed_at.isoformat() if self.committed_at else None,
                "by": self.by, "url": self.url, "recorded_at": self.recorded_at.isoformat(), "status": self.status,
                "status_at": self.status_at.isoformat()}


@dataclass(frozen=True)
class EventRow:
    id: int
    release_id: int | None
    service: str
    env: str
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "release_id": self.release_id, "service": self.service, "env": self.env,
                "at": self.at.isoformat(), "kind": self.kind, "actor": self.actor, "detail": self.detail}


def _row(r: tuple[Any, ...]) -> ReleaseRow:
    return ReleaseRow(int(r[0]), r[1], r[2], r[3], r[4], maybe_ts(r[5]), r[6], r[7],
                      parse_ts(r[8]), r[9], parse_ts(r[10]))


def _event(r: tuple[Any, ...]) -> EventRow:
    return EventRow(int(r[0]), int(r[1]) if r[1] is not None else None, r[2], r[3], parse_ts(r[4]), r[5], r[6],
                    load_json(r[7]))


def insert(tx: Tx, *, service: str, version: str, env: str, commit: str | None, committed_at: datetime | None,
           by: str, url: str | None, at: datetime) -> ReleaseRow | None:
    """A new release, ``deployed``; None when (service, version, env) is already recorded."""
    db = tx.db
    try:
        with tx.savepoint():
            r = tx.one(f"INSERT INTO releases (service, version, env, commit_sha, committed_at, deployed_by, url, "
                       f"recorded_at, status, status_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'deployed', ?) "
                       f"RETURNING {_COLS}",
                       (service, version, env, commit, db.ts(committed_at) if committed_at else None, by, url,
                        db.ts(at), db.ts(at)))
    except IntegrityViolation:
        return None
    assert r is not None
    return _row(r)


def get(tx: Tx, service: str, version: str, env: str) -> ReleaseRow | None:
    r = tx.one(f"SELECT {_COLS} FROM releases WHERE service = ? AND version = ? AND env = ?", (service, version, env))
    return _row(r) if r else None


def by_id(tx: Tx, release_id: int) -> ReleaseRow | None:
    r = tx.one(f"SELECT {_COLS} FROM releases WHERE id = ?", (release_id,))
    return _row(r) if r else None


def of_version(tx: Tx, service: str, version: str) -> list[ReleaseRow]:
    """Every environment's release of this version, newest first."""
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM releases WHERE service = ? AND version = ? "
                                    "ORDER BY recorded_at DESC, id DESC", (service, version))]


def _filter(tx: Tx, time_col: str, service: str | None, env: str | None, kinds: tuple[str, ...] | None,
            since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for the filters given; None filters nothing."""
    where: list[str] = []
    params: list[Any] = []
    for col, val in (("service", service), ("env", env)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    if kinds is not None:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(kinds)
    for op, bound in ((">=", since), ("<=", until)):
        if bound is not None:
            where.append(f"{time_col} {op} ?")
            params.append(tx.db.ts(bound))
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def listing(tx: Tx, *, service: str | None = None, env: str | None = None, since: datetime | None = None,
            until: datetime | None = None, limit: int = 500) -> list[ReleaseRow]:
    """Releases, newest first, filtered by whatever is given."""
    clause, params = _filter(tx, "recorded_at", service, env, None, since, until)
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM releases {clause} ORDER BY recorded_at DESC, id DESC "
                                    "LIMIT ?", (*params, limit))]


def current(tx: Tx, service: str, env: str) -> ReleaseRow | None:
    """The release deployed now: the newest ``deployed`` (or ``rolling_back``) one."""
    r = tx.one(f"SELECT {_COLS} FROM releases WHERE service = ? AND env = ? AND status IN ('deployed', "
               "'rolling_back') "
               "ORDER BY status_at DESC, id DESC LIMIT 1", (service, env))
    return _row(r) if r else None


def move(tx: Tx, release_id: int, expected: str, to: str, at: datetime) -> ReleaseRow | None:
    """Compare-and-set the status; None when it was not ``expected`` any more."""
    r = tx.one(f"UPDATE releases SET status = ?, status_at = ? WHERE id = ? AND status = ? RETURNING {_COLS}",
               (to, tx.db.ts(at), release_id, expected))
    return _row(r) if r else None


def supersede_others(tx: Tx, service: str, env: str, keep: int, at: datetime) -> int:
    """Every other ``deployed`` release of the service and env becomes ``superseded``."""
    rows = tx.all("UPDATE releases SET status = 'superseded', status_at = ? WHERE service = ? AND env = ? "
                  "AND status = 'deployed' AND id <> ? RETURNING id", (tx.db.ts(at), service, env, keep))
    return len(rows)


def add_event(tx: Tx, *, release_id: int | None, service: str, env: str, at: datetime, kind: str, actor: str,
              detail: dict[str, Any]) -> EventRow:
    db = tx.db
    r = tx.one("INSERT INTO release_events (release_id, service, env, at, kind, actor, detail) "
               "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, release_id, service, env, at, kind, actor, detail",
               (release_id, service, env, db.ts(at), kind, actor, db.json(detail)))
    assert r is not None
    return _event(r)


_ECOLS = "id, release_id, service, env, at, kind, actor, detail"


def events(tx: Tx, *, service: str | None = None, env: str | None = None, kinds: tuple[str, ...] | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 1000) -> list[EventRow]:
    """Events, newest first, filtered by whatever is given."""
    clause, params = _filter(tx, "at", service, env, kinds, since, until)
    return [_event(r) for r in tx.all(f"SELECT {_ECOLS} FROM release_events {clause} ORDER BY at DESC, id DESC "
                                      "LIMIT ?", (*params, limit))]


def count_between(tx: Tx, start: datetime, end: datetime) -> int:
    """Releases recorded and rollbacks finished in [start, end]: the timeline's release entries."""
    a, b = tx.db.ts(start), tx.db.ts(end)
    r = tx.one("SELECT (SELECT count(*) FROM releases WHERE recorded_at >= ? AND recorded_at <= ?) + "
               "(SELECT count(*) FROM release_events WHERE kind = 'rollback_finished' AND at >= ? AND at <= ?)",
               (a, b, a, b))
    return int(r[0]) if r else 0


def events_of(tx: Tx, release_ids: list[int]) -> list[EventRow]:
    """The events of these releases (a rollback's from and to both), oldest first."""
    if not release_ids:
        return []
    marks = ", ".join("?" for _ in release_ids)
    return [_event(r) for r in tx.all(f"SELECT {_ECOLS} FROM release_events WHERE release_id IN ({marks}) "
                                      "ORDER BY at, id", tuple(release_ids))]
