"""Incidents: declare one, move it through its lifecycle, assign roles, add notes.

    triage -> investigating -> mitigated -> resolved -> closed
       \\___________\\______________\\-> cancelled
       \\___________\\______________\\-> merged (into another one: ops/incident_edit.py)

Each move is a compare-and-set on the row's status plus an event row, in one transaction: of two
operators racing, one wins and the other gets IncidentConflict naming who moved it. A move the
lifecycle does not allow is an InvalidTransition naming the current status and the allowed ones.
Every function takes ``now`` (the clock is the caller's, so tests inject it)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.incidents import Incidents, unknown_severity
from ..config.models import ConfigBase
from ..config.references import missing
from ..errors import IncidentConflict, InvalidTransition, UsageError
from ..rules.escalation import begin as begin_escalation
from ..store import Store, escalations
from ..store import incidents as rows

OPEN = rows.OPEN
STATUSES: tuple[str, ...] = (*OPEN, "resolved", "closed", "cancelled", "merged")
# where each status may go next; skipping ahead is allowed (a quick fix resolves from triage)
NEXT: dict[str, tuple[str, ...]] = {
    "triage": ("investigating", "mitigated", "resolved", "cancelled"),
    "investigating": ("mitigated", "resolved", "cancelled"),
    "mitigated": ("resolved", "cancelled"),
    "resolved": ("closed",),
    "closed": (),
    "cancelled": (),
    "merged": (),  # `incident merge` makes this move, not move()
}
# the command that makes each move, for messages
VERB: dict[str, str] = {"investigating": "ack", "mitigated": "mitigate", "resolved": "resolve", "closed": "close",
                        "cancelled": "cancel"}


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a and b else None


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "kind": self.kind, "actor": self.actor, "detail": self.detail}


@dataclass(frozen=True)
class Incident:
    row: rows.IncidentRow
    events: list[Event] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def is_open(self) -> bool:
        return self.row.status in OPEN

    def durations(self) -> dict[str, float | None]:
        """Seconds from detection to acknowledgement, mitigation and resolution (None until then)."""
        r = self.row
        return {"time_to_acknowledge": _secs(r.detected_at, r.acknowledged_at),
                "time_to_mitigate": _secs(r.detected_at, r.mitigated_at),
                "time_to_resolve": _secs(r.detected_at, r.resolved_at)}

    def to_dict(self, with_events: bool = True) -> dict[str, Any]:
        r = self.row
        d: dict[str, Any] = {
            "id": r.id, "title": r.title, "severity": r.severity, "status": r.status, "open": self.is_open,
            "components": r.components, "summary": r.summary, "commander": r.commander, "roles": r.roles,
            "dedup_key": r.dedup_key, "detected_at": _iso(r.detected_at), "declared_at": _iso(r.declared_at),
            "acknowledged_at": _iso(r.acknowledged_at), "mitigated_at": _iso(r.mitigated_at),
            "resolved_at": _iso(r.resolved_at), "closed_at": _iso(r.closed_at), "created_by": r.created_by,
            "version": r.version, "updated_at": _iso(r.updated_at), "updated_by": r.updated_by,
            "merged_into": r.merged_into,
            **self.durations(),
        }
        if with_events:
            d["events"] = [e.to_dict() for e in self.events]
        return d


def _full(tx: Any, row: rows.IncidentRow) -> Incident:
    return Incident(row, [Event(e.at, e.kind, e.actor, e.detail) for e in rows.events(tx, row.id)])


def _get(tx: Any, incident_id: int) -> rows.IncidentRow:
    row = rows.get(tx, incident_id)
    if row is None:
        raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list --all` lists them")
    return row


def check_severity(cfg: Incidents, severity: str) -> str:
    if cfg.severity(severity) is None:
        msg, hint = unknown_severity(severity, cfg.severity_names)
        raise UsageError(msg, hint=hint)
    return severity


def declare(store: Store, cfg: Incidents, title: str, severity: str, actor: str, now: datetime, *,
            components: list[str] | None = None, summary: str = "", detected_at: datetime | None = None,
            dedup_key: str | None = None, model: ConfigBase | None = None) -> Incident:
    """A new incident in triage, with its `declared` event; on its escalation policy's ladder
    when ``model`` (the whole config, which holds the policies) is given."""
    if not title.strip():
        raise UsageError("an incident needs a title", hint='e.g. opsbook incident declare "API 5xx spike"')
    check_severity(cfg, severity)
    detected = detected_at or now
    if detected > now:
        raise UsageError("the detection time is in the future", hint="--detected is when it started; omit it for now")
    comps = list(dict.fromkeys(components or []))
    with store.transaction() as tx:
        row = rows.insert(tx, title=title.strip(), severity=severity, status="triage", components=comps,
                          summary=summary, dedup_key=dedup_key, detected_at=detected, declared_at=now,
                          created_by=actor)
        rows.add_event(tx, row.id, now, "declared", actor,
                       {"title": row.title, "severity": severity, "components": comps})
        if model is not None:
            begin_escalation(tx, model, row.id, severity, now)
        return _full(tx, row)


def show(store: Store, incident_id: int) -> Incident:
    with store.read() as tx:
        return _full(tx, _get(tx, incident_id))


def list_incidents(store: Store, *, open_only: bool, since: datetime | None, limit: int = 500) -> list[Incident]:
    with store.read() as tx:
        return [Incident(r) for r in rows.listing(tx, OPEN if open_only else None, since, limit)]


def _conflict(tx: Any, incident_id: int, seen: str) -> IncidentConflict:
    now_row = _get(tx, incident_id)
    return IncidentConflict(
        f"incident {incident_id} changed under you: it was {seen}, {now_row.updated_by} made it {now_row.status} "
        f"at {now_row.updated_at.isoformat()}",
        hint=f"nothing was changed; `opsbook incident show {incident_id}` and retry if it is still needed")


def move(store: Store, incident_id: int, to: str, actor: str, now: datetime, *, expected: str | None = None,
         reason: str = "") -> Incident:
    """Move the incident to ``to``. ``expected``: the status the caller last saw (a UI, a racing
    operator); when the row is no longer there, that is a conflict, not an invalid move."""
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        if expected is not None and row.status != expected:
            raise _conflict(tx, incident_id, expected)
        if to not in NEXT[row.status]:
            allowed = NEXT[row.status]
            nxt = ", ".join(f"{s} (`incident {VERB[s]}`)" for s in allowed) or "none: it is finished"
            what = "acknowledged" if to == "investigating" and row.acknowledged_at else f"moved to {to}"
            raise InvalidTransition(f"incident {incident_id} is {row.status}; it cannot be {what}",
                                    hint=f"allowed next: {nxt}")
        moved = rows.move(tx, incident_id, row.status, to, now, actor)
        if moved is None:
            raise _conflict(tx, incident_id, row.status)
        kind = "ack" if to == "investigating" else "status"
        detail: dict[str, Any] = {"from": row.status, "to": to}
        if reason:
            detail["reason"] = reason
        rows.add_event(tx, incident_id, now, kind, actor, detail)
        # someone is on it: its escalation stops now (the escalation step checks the status too)
        escalations.stop(tx, incident_id, "acknowledged" if to == "investigating" else to, now)
        return _full(tx, moved)


def ack(store: Store, incident_id: int, actor: str, now: datetime) -> Incident:
    """Someone is on it: triage -> investigating, acknowledged_at set once."""
    return move(store, incident_id, "investigating", actor, now)


def assign(store: Store, cfg: Incidents, incident_id: int, role: str, person: str, actor: str, now: datetime, *,
           people: Collection[str] | None = None) -> Incident:
    """Give ``role`` to ``person`` (checked against ``people`` when the config lists people)."""
    if role not in cfg.roles:
        msg, hint = missing("role", role, cfg.roles, "roles (incidents.roles)")
        raise UsageError(msg, hint=hint)
    if people is not None and person not in people:
        msg, hint = missing("person", person, people, "people (people:)")
        raise UsageError(msg, hint=hint)
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        if row.status not in OPEN:
            raise InvalidTransition(f"incident {incident_id} is {row.status}; roles are assigned while it is open",
                                    hint="open incidents are in triage, investigating or mitigated")
        roles = {**row.roles, role: person}
        updated = rows.assign(tx, incident_id, row.version, roles, now, actor)
        if updated is None:
            raise _conflict(tx, incident_id, row.status)
        rows.add_event(tx, incident_id, now, "assign", actor,
                       {"role": role, "person": person, "previous": row.roles.get(role)})
        return _full(tx, updated)


def note(store: Store, incident_id: int, text: str, actor: str, now: datetime) -> Incident:
    """A line in the incident's timeline (what was tried, what was seen). Allowed in any status:
    notes written after the fact feed the post-mortem."""
    if not text.strip():
        raise UsageError("a note needs text", hint='e.g. opsbook incident note 3 "rolled back to v41"')
    with store.transaction() as tx:
        _get(tx, incident_id)
        rows.touch(tx, incident_id, now, actor)
        rows.add_event(tx, incident_id, now, "note", actor, {"text": text.strip()})
        return _full(tx, _get(tx, incident_id))


def since_cutoff(now: datetime, seconds: float | None) -> datetime | None:
    return now - timedelta(seconds=seconds) if seconds is not None else None
