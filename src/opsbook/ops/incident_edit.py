"""Changing what an incident is, rather than where it is in its lifecycle: its severity, title
and summary (`incident edit`), merging it into another (`incident merge`), closing it only once
its required post-mortem is written (`incident close`), and recording that post-mortem.

Edits are a compare-and-set on the row's version (the version the caller saw: two people editing
at once, one wins); a merge is a compare-and-set on the status. Each change is an event row in
the same transaction. Every function takes ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.incidents import Incidents
from ..errors import IncidentConflict, InvalidTransition, PostmortemMissing, UsageError
from ..rules.postmortem_due import DONE
from ..store import Store, escalations
from ..store import incidents as rows
from .incident import OPEN, Incident, _conflict, _full, _get, check_severity, move

# terminal: nothing moves out of these, so nothing can be merged into them either
TERMINAL: tuple[str, ...] = ("closed", "cancelled", "merged")
# the events that settle a required post-mortem: written, or closed without one on purpose
POSTMORTEM_DONE = DONE
EDITABLE: tuple[str, ...] = ("severity", "title", "summary")


def edit(store: Store, cfg: Incidents, incident_id: int, actor: str, now: datetime, *,
         severity: str | None = None, title: str | None = None, summary: str | None = None,
         expected_version: int | None = None) -> Incident:
    """Change severity/title/summary; one ``edit`` event per field that changed. ``expected_version``:
    the version the caller last saw (default: the one read here)."""
    wanted = {k: v for k, v in (("severity", severity), ("title", title), ("summary", summary)) if v is not None}
    if not wanted:
        raise UsageError("nothing to change", hint="give --severity, --title and/or --summary")
    if "title" in wanted:
        wanted["title"] = wanted["title"].strip()
        if not wanted["title"]:
            raise UsageError("an incident needs a title", hint='e.g. --title "API 5xx spike"')
    if "severity" in wanted:
        check_severity(cfg, wanted["severity"])
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        if expected_version is not None and row.version != expected_version:
            raise IncidentConflict(
                f"incident {incident_id} changed under you: you saw version {expected_version}, it is at "
                f"{row.version} ({row.updated_by} changed it at {row.updated_at.isoformat()})",
                hint=f"nothing was changed; `opsbook incident show {incident_id}` and retry if still needed")
        if row.status in TERMINAL:
            raise InvalidTransition(f"incident {incident_id} is {row.status}; it cannot be edited any more",
                                    hint="add a note instead: `opsbook incident note ID TEXT`")
        current = {"severity": row.severity, "title": row.title, "summary": row.summary}
        changes = {k: v for k, v in wanted.items() if current[k] != v}
        if not changes:
            return _full(tx, row)
        updated = rows.edit(tx, incident_id, row.version, changes, now, actor)
        if updated is None:
            raise _conflict(tx, incident_id, row.status)
        for field in EDITABLE:
            if field in changes:
                rows.add_event(tx, incident_id, now, "edit", actor,
                               {"field": field, "from": current[field], "to": changes[field]})
        return _full(tx, updated)


def merge(store: Store, incident_id: int, into: int, actor: str, now: datetime, *, reason: str = "") -> Incident:
    """Merge ``incident_id`` (a duplicate) into ``into``: it becomes ``merged`` (terminal) and
    points at ``into``; alerts with its dedup key then join ``into`` (rules/incidents.py)."""
    if incident_id == into:
        raise UsageError(f"incident {incident_id} cannot be merged into itself",
                         hint="--into names the incident that goes on")
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        target = _get(tx, into)
        if row.status in TERMINAL:
            raise InvalidTransition(f"incident {incident_id} is {row.status}; only an unfinished one can be merged",
                                    hint=f"`opsbook incident show {incident_id}`")
        if target.status == "merged":
            end = rows.surviving(tx, target)
            cycle = " (that would make a cycle)" if end.id == incident_id else ""
            raise InvalidTransition(f"incident {into} was merged into {target.merged_into}{cycle}; "
                                    f"it cannot take another",
                                    hint=f"merge into the one that went on: --into {end.id}" if not cycle else
                                    "nothing was changed")
        if target.status in TERMINAL:
            raise InvalidTransition(f"incident {into} is {target.status}; nothing can be merged into it",
                                    hint="merge into an incident that is not closed or cancelled")
        merged = rows.merge(tx, incident_id, row.status, into, now, actor)
        if merged is None:
            raise _conflict(tx, incident_id, row.status)
        escalations.stop(tx, incident_id, "merged", now)  # the incident that goes on pages for both
        detail: dict[str, Any] = {"from": row.status, "to": "merged", "into": into}
        if reason:
            detail["reason"] = reason
        rows.add_event(tx, incident_id, now, "merged", actor, detail)
        rows.touch(tx, into, now, actor)
        rows.add_event(tx, into, now, "merge", actor,
                       {"merged": incident_id, "title": row.title, "dedup_key": row.dedup_key,
                        **({"reason": reason} if reason else {})})
        return _full(tx, merged)


def postmortem_due(cfg: Incidents, row: rows.IncidentRow) -> datetime | None:
    """When the post-mortem is due (resolved_at + postmortem.due), or None when not required."""
    if row.severity not in cfg.postmortem_required_for or row.resolved_at is None:
        return None
    return row.resolved_at + timedelta(seconds=cfg.postmortem.due)


def close(store: Store, cfg: Incidents, incident_id: int, actor: str, now: datetime, *,
          without_postmortem: str | None = None) -> Incident:
    """Close a resolved incident; refused (PostmortemMissing, exit 1) while its required
    post-mortem is not written, unless ``without_postmortem`` gives the reason to close anyway."""
    if without_postmortem is not None and not without_postmortem.strip():
        raise UsageError("--without-postmortem needs a reason", hint='e.g. --without-postmortem "duplicate of 12"')
    with store.read() as tx:
        status = _get(tx, incident_id).status
    if status != "resolved":
        return move(store, incident_id, "closed", actor, now)  # refused there, with the allowed moves
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        due = postmortem_due(cfg, row)
        waived = due is not None and not rows.has_event(tx, incident_id, POSTMORTEM_DONE)
        if waived and without_postmortem is None:
            raise PostmortemMissing(
                f"incident {incident_id} ({row.severity}) needs a post-mortem before it is closed; it is "
                f"due {due.isoformat() if due else '-'}",
                hint=f"write it: `opsbook incident postmortem {incident_id} --out FILE`; or close anyway: "
                     f'`opsbook incident close {incident_id} --without-postmortem "REASON"`')
        closed = rows.move(tx, incident_id, "resolved", "closed", now, actor)
        if closed is None:
            raise _conflict(tx, incident_id, "resolved")
        if waived and without_postmortem is not None:
            rows.add_event(tx, incident_id, now, "postmortem_waived", actor, {"reason": without_postmortem.strip()})
        rows.add_event(tx, incident_id, now, "status", actor, {"from": "resolved", "to": "closed"})
        return _full(tx, closed)


def record_postmortem(store: Store, incident_id: int, actor: str, now: datetime, *, file: str) -> None:
    """The post-mortem was written (to ``file``): a ``postmortem`` event settles the requirement."""
    with store.transaction() as tx:
        _get(tx, incident_id)
        rows.touch(tx, incident_id, now, actor)
        rows.add_event(tx, incident_id, now, "postmortem", actor, {"file": file})


__all__ = ["OPEN", "POSTMORTEM_DONE", "TERMINAL", "close", "edit", "merge", "postmortem_due", "record_postmortem"]
