"""On-call: who is on call now (or at a time), a schedule's shifts, and overrides.

The arithmetic is rules/oncall.py over the config's ``oncall:`` schedules; overrides are rows in
``oncall_overrides`` (store/oncall.py). Every function takes the time it works at, so tests and
``--at`` need no clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..config.oncall import Person, Schedule
from ..config.references import missing
from ..errors import UsageError
from ..rules.oncall import Shift, lookaround, on_call, shifts
from ..store import oncall as rows
from ..store.store import Store

NOW_SCHEMA = "opsbook.oncall-now/1"
SHIFTS_SCHEMA = "opsbook.oncall-shifts/1"
OVERRIDE_SCHEMA = "opsbook.oncall-override/1"
OVERRIDES_SCHEMA = "opsbook.oncall-overrides/1"
OVERRIDE_DELETED_SCHEMA = "opsbook.oncall-override-deleted/1"


def schedule_of(cfg: Config, name: str) -> Schedule:
    """The schedule named ``name``; an unknown one is a usage error with a did-you-mean."""
    schedules = cfg.model.oncall
    if name not in schedules:
        msg, hint = missing("on-call schedule", name, schedules)
        raise UsageError(msg, hint=f"schedules are defined under oncall: in {cfg.path.name}; {hint}")
    return schedules[name]


def person_of(cfg: Config, name: str) -> Person:
    people = cfg.model.people
    if name not in people:
        msg, hint = missing("person", name, people, "people")
        raise UsageError(msg, hint=f"people are defined under people: in {cfg.path.name}; {hint}")
    return people[name]


def _display(cfg: Config, name: str) -> str:
    p = cfg.model.people.get(name)
    return p.name if p and p.name else name


def _person_dict(cfg: Config, name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    p = cfg.model.people.get(name)
    return {"name": name, "display": _display(cfg, name), "contact": list(p.contact) if p else []}


@dataclass(frozen=True)
class OnCall:
    schedule: str
    timezone: str
    current: Shift | None
    next: Shift | None

    def to_dict(self, cfg: Config) -> dict[str, Any]:
        c, n = self.current, self.next
        return {
            "schedule": self.schedule, "timezone": self.timezone,
            "person": _person_dict(cfg, c.person if c else None),
            "since": c.start.isoformat() if c else None, "until": c.end.isoformat() if c else None,
            "source": c.source if c else None,
            "next": {"person": _person_dict(cfg, n.person), "start": n.start.isoformat(),
                     "end": n.end.isoformat(), "source": n.source} if n else None,
        }


@dataclass(frozen=True)
class OnCallNow:
    at: datetime
    schedules: list[OnCall] = field(default_factory=list)

    def to_dict(self, cfg: Config) -> dict[str, Any]:
        return {"schema": NOW_SCHEMA, "at": self.at.isoformat(), "schedules": [s.to_dict(cfg) for s in self.schedules]}


def now(cfg: Config, store: Store, at: datetime, schedule: str | None = None) -> OnCallNow:
    """Who is on call at ``at`` in ``schedule`` (default: every schedule), with since/until."""
    names = [schedule] if schedule else sorted(cfg.model.oncall)
    result = OnCallNow(at)
    for name in names:
        sched = schedule_of(cfg, name)
        span = lookaround(sched)
        with store.read() as tx:
            overrides = rows.overlapping(tx, name, at - span, at + span)
        current, upcoming = on_call(sched, overrides, at)
        result.schedules.append(OnCall(name, sched.timezone, current, upcoming))
    return result


@dataclass(frozen=True)
class OnCallShifts:
    schedule: str
    timezone: str
    start: datetime
    end: datetime
    shifts: list[Shift]

    def to_dict(self, cfg: Config) -> dict[str, Any]:
        return {"schema": SHIFTS_SCHEMA, "schedule": self.schedule, "timezone": self.timezone,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "shifts": [{**s.to_dict(), "display": _display(cfg, s.person)} for s in self.shifts]}


def show(cfg: Config, store: Store, schedule: str, start: datetime, days: float) -> OnCallShifts:
    """The schedule's shifts from ``start`` for ``days`` days."""
    if days <= 0:
        raise UsageError("--days must be more than 0")
    sched = schedule_of(cfg, schedule)
    end = start + timedelta(days=days)
    with store.read() as tx:
        overrides = rows.overlapping(tx, schedule, start, end)
    return OnCallShifts(schedule, sched.timezone, start, end, shifts(sched, overrides, start, end))


@dataclass(frozen=True)
class OverrideResult:
    override: rows.OverrideRow

    def to_dict(self) -> dict[str, Any]:
        return {"schema": OVERRIDE_SCHEMA, **self.override.to_dict()}


def override(cfg: Config, store: Store, schedule: str, person: str, starts_at: datetime, ends_at: datetime,
             created_by: str, reason: str, now: datetime) -> OverrideResult:
    """Record that ``person`` is on call for ``schedule`` in [starts_at, ends_at); it wins over every layer."""
    schedule_of(cfg, schedule)
    person_of(cfg, person)
    if ends_at <= starts_at:
        raise UsageError("an override must end after it starts", hint="check --from and --to (or --for)")
    if ends_at <= now:
        raise UsageError("an override must end in the future", hint="an override for the past changes nothing")
    row = rows.OverrideRow(uuid.uuid4().hex[:12], schedule, person, starts_at, ends_at, created_by, reason, now)
    with store.transaction() as tx:
        rows.add(tx, row)
    return OverrideResult(row)


@dataclass(frozen=True)
class Overrides:
    schedule: str | None
    at: datetime
    overrides: list[rows.OverrideRow]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": OVERRIDES_SCHEMA, "schedule": self.schedule, "at": self.at.isoformat(),
                "overrides": [o.to_dict() for o in self.overrides]}


def list_overrides(cfg: Config, store: Store, schedule: str | None, now: datetime, *, ended: bool = False) -> Overrides:
    """The overrides of ``schedule`` (None: every schedule) that have not ended at ``now`` (``ended``:
    those too), by start time."""
    if schedule is not None:
        schedule_of(cfg, schedule)
    with store.read() as tx:
        return Overrides(schedule, now, rows.listing(tx, schedule, None if ended else now))


def delete_override(store: Store, override_id: str) -> rows.OverrideRow:
    """Remove one override; an unknown id is a usage error (exit 2) naming how to list them."""
    with store.transaction() as tx:
        row = rows.get(tx, override_id)
        if row is None or not rows.delete(tx, override_id):
            raise UsageError(f"no on-call override {override_id!r}",
                             hint="`opsbook oncall override list` shows their ids")
        return row
