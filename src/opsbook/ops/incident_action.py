"""Action items: the follow-up work an incident leaves (add one, mark it done, list them).

Adding and finishing one also writes an `action` event on the incident, so its timeline and its
post-mortem show when the work was agreed and when it was done. Marking an item done is a
compare-and-set: of two people finishing it at once, one wins and the other is told who did."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..config.references import missing
from ..errors import IncidentConflict, UsageError
from ..store import Store
from ..store import incident_actions as actions
from ..store import incidents as incident_rows


@dataclass(frozen=True)
class Action:
    row: actions.ActionRow

    def overdue(self, today: date) -> bool:
        return self.row.status == actions.OPEN and self.row.due is not None and self.row.due < today

    def to_dict(self, today: date | None = None) -> dict[str, Any]:
        r = self.row
        d: dict[str, Any] = {
            "id": r.id, "incident_id": r.incident_id, "text": r.text, "owner": r.owner,
            "due": r.due.isoformat() if r.due else None, "status": r.status,
            "created_at": r.created_at.isoformat(), "created_by": r.created_by,
            "done_at": r.done_at.isoformat() if r.done_at else None, "done_by": r.done_by,
        }
        if today is not None:
            d["overdue"] = self.overdue(today)
        return d


def parse_due(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--due {text!r} is not a date", hint="write it like 2026-03-15") from None


def _incident(tx: Any, incident_id: int) -> incident_rows.IncidentRow:
    row = incident_rows.get(tx, incident_id)
    if row is None:
        raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list --all` lists them")
    return row


def add(store: Store, incident_id: int, text: str, actor: str, now: datetime, *, owner: str | None = None,
        due: date | None = None, people: Collection[str] | None = None) -> Action:
    """A new open action item on the incident (in any status: most are agreed in the post-mortem)."""
    if not text.strip():
        raise UsageError("an action item needs text", hint='e.g. opsbook incident action add 7 "alert on 5xx rate"')
    if owner is not None and people is not None and owner not in people:
        msg, hint = missing("person", owner, people, "people (people:)")
        raise UsageError(msg, hint=hint)
    with store.transaction() as tx:
        _incident(tx, incident_id)
        row = actions.insert(tx, incident_id, text.strip(), owner, due, now, actor)
        incident_rows.touch(tx, incident_id, now, actor)
        incident_rows.add_event(tx, incident_id, now, "action", actor,
                                {"action": row.id, "text": row.text, "owner": owner, "done": False})
        return Action(row)


def done(store: Store, incident_id: int, action_id: int, actor: str, now: datetime) -> Action:
    """Mark an open action item done (compare-and-set on its status)."""
    with store.transaction() as tx:
        _incident(tx, incident_id)
        row = actions.get(tx, action_id)
        if row is None or row.incident_id != incident_id:
            raise UsageError(f"incident {incident_id} has no action item {action_id}",
                             hint=f"`opsbook incident action list {incident_id}` lists them")
        finished = actions.mark_done(tx, action_id, now, actor)
        if finished is None:
            now_row = actions.get(tx, action_id)
            assert now_row is not None and now_row.done_at is not None
            raise IncidentConflict(f"action item {action_id} is already done: {now_row.done_by} finished it at "
                                   f"{now_row.done_at.isoformat()}", hint="nothing was changed")
        incident_rows.touch(tx, incident_id, now, actor)
        incident_rows.add_event(tx, incident_id, now, "action", actor,
                                {"action": action_id, "text": row.text, "owner": row.owner, "done": True})
        return Action(finished)


def listing(store: Store, incident_id: int | None, *, open_only: bool = False, limit: int = 1000) -> list[Action]:
    """One incident's action items (all of them), or, without an incident, every open one."""
    with store.read() as tx:
        if incident_id is not None:
            _incident(tx, incident_id)
        return [Action(r) for r in actions.listing(tx, incident_id, open_only, limit)]
