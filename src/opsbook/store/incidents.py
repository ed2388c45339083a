"""Owner of incidents and incident_events: an incident is one row whose status moves by
compare-and-set (``UPDATE ... WHERE id = ? AND status = ? RETURNING``), each move written with
an event row in the same transaction. ops/incident.py decides which moves are allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import IntegrityViolation
from .db import Tx, load_json, maybe_ts, parse_ts, ts_reader

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (60, "incidents: the incident record and its events", [
        """CREATE TABLE incidents (
            id {id},
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            components {json} NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            commander TEXT,
            roles {json} NOT NULL,
            dedup_key TEXT,
            detected_at {ts} NOT NULL,
            declared_at {ts} NOT NULL,
            acknowledged_at {ts},
            mitigated_at {ts},
            resolved_at {ts},
            closed_at {ts},
            created_by TEXT NOT NULL,
            version {bigint} NOT NULL DEFAULT 1,
            updated_at {ts} NOT NULL,
            updated_by TEXT NOT NULL)""",
        "CREATE INDEX ix_incidents_status ON incidents (status, declared_at)",
        "CREATE INDEX ix_incidents_declared ON incidents (declared_at)",
        "CREATE INDEX ix_incidents_dedup ON incidents (dedup_key)",
        """CREATE TABLE incident_events (
            id {id},
            incident_id {bigint} NOT NULL,
            at {ts} NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            detail {json} NOT NULL)""",
        "CREATE INDEX ix_incident_events_incident ON incident_events (incident_id, at)",
    ]),
    # at most one open incident per alert: replicas sharing a store that declare the same alert at
    # once insert one row, the other insert fails and joins it (insert_unless_open)
    (63, "incidents: one open incident per dedup_key", [
        "CREATE UNIQUE INDEX ux_incidents_open_dedup ON incidents (dedup_key) "
        "WHERE status IN ('triage', 'investigating', 'mitigated')",
    ]),
    # `incident merge`: the merged incident points at the one that goes on (alerts follow it)
    (67, "incidents: merged_into", [
        "ALTER TABLE incidents ADD COLUMN merged_into {bigint}",
    ]),
]

TABLES: tuple[str, ...] = ("incidents", "incident_events")
# the open statuses: the ones migration 63's unique index on dedup_key covers
OPEN: tuple[str, ...] = ("triage", "investigating", "mitigated")

_COLS = ("id, title, severity, status, components, summary, commander, roles, dedup_key, detected_at, declared_at, "
         "acknowledged_at, mitigated_at, resolved_at, closed_at, created_by, version, updated_at, updated_by, "
         "merged_into")

# the timestamp column each status sets; the only names interpolated into SQL below
_STAMP: dict[str, str] = {"investigating": "acknowledged_at", "mitigated": "mitigated_at",
                          "resolved": "resolved_at", "closed": "closed_at", "cancelled": "closed_at"}
# a later stage implies the earlier ones: resolving sets mitigated_at and acknowledged_at if unset
_IMPLIES: dict[str, tuple[str, ...]] = {"mitigated": ("acknowledged_at",),
                                        "resolved": ("acknowledged_at", "mitigated_at")}


@dataclass(frozen=True)
class IncidentRow:
    id: int
    title: str
    severity: str
    status: str
    components: list[str]
    summary: str
    commander: str | None
    roles: dict[str, str]
    dedup_key: str | None
    detected_at: datetime
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_by: str
    version: int
    updated_at: datetime
    updated_by: str
    merged_into: int | None = None


@dataclass(frozen=True)
class EventRow:
    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


def _row(r: tuple[Any, ...]) -> IncidentRow:
    return IncidentRow(int(r[0]), r[1], r[2], r[3], load_json(r[4]), r[5], r[6], load_json(r[7]), r[8],
                       parse_ts(r[9]), parse_ts(r[10]), maybe_ts(r[11]), maybe_ts(r[12]), maybe_ts(r[13]),
                       maybe_ts(r[14]), r[15], int(r[16]), parse_ts(r[17]), r[18],
                       int(r[19]) if r[19] is not None else None)


def insert(tx: Tx, *, title: str, severity: str, status: str, components: list[str], summary: str,
           dedup_key: str | None, detected_at: datetime, declared_at: datetime, created_by: str) -> IncidentRow:
    db = tx.db
    r = tx.one(
        "INSERT INTO incidents (title, severity, status, components, summary, commander, roles, dedup_key, "
        "detected_at, declared_at, created_by, version, updated_at, updated_by) "
        f"VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING {_COLS}",
        (title, severity, status, db.json(components), summary, db.json({}), dedup_key, db.ts(detected_at),
         db.ts(declared_at), created_by, db.ts(declared_at), created_by))
    assert r is not None
    return _row(r)


def insert_unless_open(tx: Tx, **fields: Any) -> IncidentRow | None:
    """``insert`` with a ``dedup_key``; None when an open incident already has that key (the
    unique index decides, so two evaluators racing on one PostgreSQL store insert one row)."""
    try:
        with tx.savepoint():
            return insert(tx, **fields)
    except IntegrityViolation:
        return None


def latest_by_dedup(tx: Tx, dedup_key: str, statuses: tuple[str, ...] | None = None) -> IncidentRow | None:
    """The newest incident with this key (only among ``statuses`` when given)."""
    clause, params = "", ()  # type: tuple[str, tuple[str, ...]]
    if statuses is not None:
        clause, params = f" AND status IN ({', '.join('?' for _ in statuses)})", statuses
    r = tx.one(f"SELECT {_COLS} FROM incidents WHERE dedup_key = ?{clause} ORDER BY declared_at DESC, id DESC "
               "LIMIT 1", (dedup_key, *params))
    return _row(r) if r else None


def get(tx: Tx, incident_id: int) -> IncidentRow | None:
    r = tx.one(f"SELECT {_COLS} FROM incidents WHERE id = ?", (incident_id,))
    return _row(r) if r else None


def listing(tx: Tx, statuses: tuple[str, ...] | None, since: datetime | None, limit: int) -> list[IncidentRow]:
    """Incidents, newest first; only those in ``statuses`` (None: all), declared at or after ``since``."""
    where: list[str] = []
    params: list[Any] = []
    if statuses is not None:
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(statuses)
    if since is not None:
        where.append("declared_at >= ?")
        params.append(tx.db.ts(since))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM incidents {clause} ORDER BY declared_at DESC, id DESC "
                                    "LIMIT ?", (*params, limit))]


def move(tx: Tx, incident_id: int, expected: str, to: str, at: datetime, actor: str) -> IncidentRow | None:
    """Compare-and-set the status from ``expected`` to ``to``, stamping its time column (once);
    None when the row was not in ``expected`` any more (another operator moved it first)."""
    stamp = _STAMP[to]
    sets = [f"{stamp} = COALESCE({stamp}, ?)"] + [f"{c} = COALESCE({c}, ?)" for c in _IMPLIES.get(to, ())]
    t = tx.db.ts(at)
    r = tx.one(f"UPDATE incidents SET status = ?, {', '.join(sets)}, version = version + 1, updated_at = ?, "
               f"updated_by = ? WHERE id = ? AND status = ? RETURNING {_COLS}",
               (to, *([t] * len(sets)), t, actor, incident_id, expected))
    return _row(r) if r else None


def assign(tx: Tx, incident_id: int, version: int, roles: dict[str, str], at: datetime,
           actor: str) -> IncidentRow | None:
    """Replace the roles (and the commander, mirrored from them) if the row is still at ``version``."""
    db = tx.db
    r = tx.one(f"UPDATE incidents SET roles = ?, commander = ?, version = version + 1, updated_at = ?, "
               f"updated_by = ? WHERE id = ? AND version = ? RETURNING {_COLS}",
               (db.json(roles), roles.get("commander"), db.ts(at), actor, incident_id, version))
    return _row(r) if r else None


def edit(tx: Tx, incident_id: int, version: int, fields: dict[str, str], at: datetime,
         actor: str) -> IncidentRow | None:
    """Set title/severity/summary (``fields``) if the row is still at ``version``; None otherwise."""
    cols = [c for c in ("title", "severity", "summary") if c in fields]  # the only names put in the SQL
    sets = "".join(f"{c} = ?, " for c in cols)
    r = tx.one(f"UPDATE incidents SET {sets}version = version + 1, updated_at = ?, updated_by = ? "
               f"WHERE id = ? AND version = ? RETURNING {_COLS}",
               (*(fields[c] for c in cols), tx.db.ts(at), actor, incident_id, version))
    return _row(r) if r else None


def set_components(tx: Tx, incident_id: int, components: list[str]) -> None:
    tx.execute("UPDATE incidents SET components = ? WHERE id = ?", (tx.db.json(components), incident_id))


def merge(tx: Tx, incident_id: int, expected: str, into: int, at: datetime, actor: str) -> IncidentRow | None:
    """Compare-and-set the status from ``expected`` to ``merged``, pointing at ``into``; it is
    finished, so closed_at is stamped. None when the row was not in ``expected`` any more."""
    t = tx.db.ts(at)
    r = tx.one(f"UPDATE incidents SET status = 'merged', merged_into = ?, closed_at = COALESCE(closed_at, ?), "
               f"version = version + 1, updated_at = ?, updated_by = ? WHERE id = ? AND status = ? "
               f"RETURNING {_COLS}", (into, t, t, actor, incident_id, expected))
    return _row(r) if r else None


def surviving(tx: Tx, row: IncidentRow, limit: int = 20) -> IncidentRow:
    """Follow ``merged_into`` to the incident that went on (the row itself when not merged)."""
    seen = {row.id}
    while row.merged_into is not None and len(seen) <= limit:
        nxt = get(tx, row.merged_into)
        if nxt is None or nxt.id in seen:
            break
        seen.add(nxt.id)
        row = nxt
    return row


def has_event(tx: Tx, incident_id: int, kinds: tuple[str, ...]) -> bool:
    marks = ", ".join("?" for _ in kinds)
    return tx.one(f"SELECT 1 FROM incident_events WHERE incident_id = ? AND kind IN ({marks}) LIMIT 1",
                  (incident_id, *kinds)) is not None


def postmortem_pending(tx: Tx, severities: tuple[str, ...], done_kinds: tuple[str, ...],
                       resolved_before: datetime, limit: int = 1000) -> list[IncidentRow]:
    """Resolved or closed incidents of ``severities`` resolved before ``resolved_before`` without an
    event of ``done_kinds`` (the post-mortem written, or waived), oldest first."""
    if not severities:
        return []
    sev = ", ".join("?" for _ in severities)
    kinds = ", ".join("?" for _ in done_kinds)
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM incidents i WHERE status IN ('resolved', 'closed') AND severity IN ({sev}) "
        f"AND resolved_at IS NOT NULL AND resolved_at < ? AND NOT EXISTS (SELECT 1 FROM incident_events e "
        f"WHERE e.incident_id = i.id AND e.kind IN ({kinds})) ORDER BY resolved_at, id LIMIT ?",
        (*severities, tx.db.ts(resolved_before), *done_kinds, limit))]


def touch(tx: Tx, incident_id: int, at: datetime, actor: str) -> None:
    """Bump the version for a change that lives only in the events (a note)."""
    tx.execute("UPDATE incidents SET version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?",
               (tx.db.ts(at), actor, incident_id))


def add_event(tx: Tx, incident_id: int, at: datetime, kind: str, actor: str, detail: dict[str, Any]) -> None:
    db = tx.db
    tx.execute("INSERT INTO incident_events (incident_id, at, kind, actor, detail) VALUES (?, ?, ?, ?, ?)",
               (incident_id, db.ts(at), kind, actor, db.json(detail)))


def events(tx: Tx, incident_id: int, newest: int | None = None) -> list[EventRow]:
    """The incident's events in time order (insertion order among equal times); only the
    ``newest`` ones when given (a page shows the last few of a long incident's thousands)."""
    sql = "SELECT id, incident_id, at, kind, actor, detail FROM incident_events WHERE incident_id = ?"
    if newest is None:
        rows = tx.all(sql + " ORDER BY at, id", (incident_id,))
    else:
        rows = tx.all(sql + " ORDER BY at DESC, id DESC LIMIT ?", (incident_id, newest))[::-1]
    return [EventRow(int(r[0]), int(r[1]), parse_ts(r[2]), r[3], r[4], load_json(r[5])) for r in rows]


# an event for a timeline: (at, id, kind, actor, a note's text or None, the detail of any other event or None)
EventLine = tuple[datetime, int, str, str, str | None, dict[str, Any] | None]


def event_lines(tx: Tx, incident_id: int, newest: int) -> list[EventLine]:
    """The incident's newest ``newest`` events in time order, as plain tuples; a note (most of a
    long incident's events) comes as its text, read out in SQL, any other event with its detail
    (decoding thousands of note documents was a tenth of a timeline's time)."""
    db = tx.db
    if db.dialect == "sqlite":
        text = "kind = 'note' AND json_type(detail, '$.text') = 'text'"
        cols = f"CASE WHEN {text} THEN json_extract(detail, '$.text') END, CASE WHEN {text} THEN NULL ELSE detail END"
    else:
        text = "kind = 'note' AND jsonb_typeof(detail -> 'text') = 'string'"
        cols = f"CASE WHEN {text} THEN detail ->> 'text' END, CASE WHEN {text} THEN NULL ELSE detail END"
    rows = tx.all(f"SELECT at, id, kind, actor, {cols} FROM incident_events WHERE incident_id = ? "
                  "ORDER BY at DESC, id DESC LIMIT ?", (incident_id, newest))[::-1]
    iso = ts_reader(db.dialect)
    return [(iso(at), i, k, who, note, load_json(d) if d is not None else None) for at, i, k, who, note, d in rows]


def count_events(tx: Tx, incident_id: int) -> int:
    r = tx.one("SELECT count(*) FROM incident_events WHERE incident_id = ?", (incident_id,))
    return int(r[0]) if r else 0
