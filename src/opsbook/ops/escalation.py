"""Escalation: an unacknowledged incident moves up its policy's levels, through the outbox.

``step`` (the daemon calls it every few seconds) finds the ladders whose next level is due and,
for each, in two transactions:

1. checks the incident is still unacknowledged (anything past triage stops the ladder) and
   claims the row by compare-and-set on (level, round): of two workers, one gets it;
2. resolves who to page (the on-call person of each schedule at ``now``, people through their
   contact receivers, receivers as they are), enqueues one outbox row per receiver under the
   key ``esc:{incident}:{round}:{level}:{receiver}``, writes an ``escalated`` event and moves
   the row to the next level, only if this worker still holds the claim at that level.

A worker killed between the two leaves a claim that lapses after ``CLAIM_TTL``; the next worker
fires the same level (the levels before it are never resent). A worker whose claim lapsed while
it was slow finds the row taken over and rolls its writes back. Delivery, retries and receipts
are the outbox sender's (notify/pipeline.py); the incident timeline shows each attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.escalation import Level, Policy
from ..config.load import Config
from ..errors import IncidentConflict, InvalidTransition, UsageError
from ..notify import outbox
from ..rules.escalation import begin
from ..store import escalations as ladder
from ..store import incidents as incident_rows
from ..store.escalations import EscalationRow
from ..store.store import Store
from . import oncall

ACTOR = "opsbook"
CLAIM_TTL = 60.0  # seconds a worker holds a level; far longer than resolving targets and one write
BATCH = 100  # ladders fired per step at most; the rest are due on the next one
SCHEMA = "opsbook.notification/1"
KIND = "escalation"


class _TakenOver(Exception):
    """Our claim lapsed and another worker fired the level: roll back what we wrote."""


@dataclass(frozen=True)
class Step:
    """What one step did to one incident: ``fired`` a level, ``stopped`` the ladder (the incident
    was acknowledged or closed, or its policy is gone) or hit an ``error`` (the others went on)."""

    incident_id: int
    action: str
    policy: str
    level: int = 0  # 1-based, as people count levels
    round: int = 0  # 1-based
    people: dict[str, str] = field(default_factory=dict)  # person -> why (schedule NAME, or "people")
    receivers: list[str] = field(default_factory=list)
    enqueued: list[str] = field(default_factory=list)  # receivers newly queued (a retry queues none)
    unreached: list[str] = field(default_factory=list)  # schedules with nobody on call, people without contact
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident_id, "action": self.action, "policy": self.policy, "level": self.level,
                "round": self.round, "people": self.people, "receivers": self.receivers, "enqueued": self.enqueued,
                "unreached": self.unreached, "reason": self.reason}


@dataclass(frozen=True)
class State:
    """Where an incident is on its ladder, for `incident show` and the API."""

    row: EscalationRow
    levels: int
    repeat: int

    def to_dict(self) -> dict[str, Any]:
        r = self.row
        return {"policy": r.policy, "levels": self.levels, "repeat": self.repeat,
                "level_reached": None if r.last_level is None else r.last_level + 1,
                "round_reached": None if r.last_round is None else r.last_round + 1,
                "last_at": r.last_at.isoformat() if r.last_at else None,
                "next_level": None if r.stopped else r.next_level + 1,
                "next_round": None if r.stopped else r.round + 1,
                "next_at": r.next_at.isoformat() if r.next_at and not r.stopped else None,
                "claimed_by": r.claimed_by, "stopped": r.stopped,
                "stopped_at": r.stopped_at.isoformat() if r.stopped_at else None}

    def line(self) -> str:
        d = self.to_dict()
        reached = f"level {d['level_reached']}/{self.levels}" if d["level_reached"] else "no level fired yet"
        if self.repeat:
            reached += f" (round {d['round_reached'] or 1} of {self.repeat + 1})"
        if self.row.stopped:
            return f"{self.row.policy}: {reached}; stopped: {self.row.stopped}"
        return f"{self.row.policy}: {reached}; level {d['next_level']} at {d['next_at']}"


def state(cfg: Config, store: Store, incident_id: int) -> State | None:
    with store.read() as tx:
        row = ladder.get(tx, incident_id)
    if row is None:
        return None
    policy = cfg.model.escalation.get(row.policy)
    return State(row, len(policy.levels) if policy else 0, policy.repeat if policy else 0)


def start(store: Store, cfg: Config, incident_id: int, now: datetime) -> str | None:
    """Put an existing incident on its severity's ladder (declaring does this itself); the policy."""
    with store.transaction() as tx:
        row = incident_rows.get(tx, incident_id)
        if row is None:
            raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list --all` lists them")
        return begin(tx, cfg.model, incident_id, row.severity, now)


def stop_reason(row: incident_rows.IncidentRow) -> str | None:
    """Why the ladder stops for this incident, or None while it is unacknowledged."""
    if row.status != "triage":
        return "acknowledged" if row.status == "investigating" else row.status
    return "acknowledged" if row.acknowledged_at else None


def targets(cfg: Config, store: Store, level: Level, now: datetime) -> tuple[dict[str, str], list[str], list[str]]:
    """(person -> why, receivers, unreached) for one level at ``now``."""
    people: dict[str, str] = {}
    unreached: list[str] = []
    for sched in level.notify.oncall:
        current = oncall.now(cfg, store, now, sched).schedules[0].current
        if current is None:
            unreached.append(f"schedule {sched}: nobody on call")
        else:
            people.setdefault(current.person, f"on call for {sched}")
    for person in level.notify.people:
        people.setdefault(person, "listed")
    receivers: list[str] = []
    for person in people:
        contact = cfg.model.people[person].contact if person in cfg.model.people else []
        if not contact:
            unreached.append(f"person {person}: no contact receivers")
        receivers += contact
    receivers += level.notify.receivers
    known = cfg.model.notify.receivers
    unreached += [f"receiver {r}: not configured" for r in receivers if r not in known]
    return people, list(dict.fromkeys(r for r in receivers if r in known)), unreached


def _payload(cfg: Config, inc: incident_rows.IncidentRow, receiver: str, key: str, policy: str, level: int,
             rnd: int, people: dict[str, str], now: datetime) -> dict[str, Any]:
    """The outbox document: the notification schema, with the incident as its one firing alert so
    every receiver kind renders it as a page (PagerDuty dedupes on the incident)."""
    name = f"incident-{inc.id}"
    labels = {"alertname": name, "severity": inc.severity, "incident": str(inc.id)}
    title = f"[ESCALATION L{level + 1}] incident {inc.id} {inc.severity}: {inc.title}"
    return {
        "schema": SCHEMA, "id": key, "kind": KIND, "status": "firing", "reason": KIND, "receiver": receiver,
        "group_key": f"incident:{inc.id}", "group_id": name, "group_labels": labels, "dedup_key": f"incident:{inc.id}",
        "alerts": [{"rule": name, "state": "firing", "labels": labels, "reason": f"escalation level {level + 1}",
                    "annotations": {"summary": inc.title, "description": inc.summary}}],
        "external_url": cfg.model.notify.external_url, "created_at": now.isoformat(), "title": title,
        "incident": {"id": inc.id, "title": inc.title, "severity": inc.severity, "status": inc.status,
                     "declared_at": inc.declared_at.isoformat()},
        "escalation": {"policy": policy, "level": level + 1, "round": rnd + 1, "people": sorted(people)},
    }


def _next(policy: Policy, level: int, rnd: int, now: datetime) -> tuple[int, int, datetime | None, str | None]:
    """(next level, round, due at, stopped) after (level, round) fired."""
    if level + 1 < len(policy.levels):
        return level + 1, rnd, now + timedelta(seconds=policy.levels[level + 1].wait), None
    if rnd < policy.repeat:
        return 0, rnd + 1, now + timedelta(seconds=repeat_wait(policy)), None
    return level, rnd, None, "exhausted"


def repeat_wait(policy: Policy) -> float:
    """A repeat never pages at once after the last level: level 1's wait, else the last level's."""
    return policy.levels[0].wait or policy.levels[-1].wait


def _stop(store: Store, row: EscalationRow, reason: str, now: datetime) -> Step:
    with store.transaction() as tx:
        ladder.stop(tx, row.incident_id, reason, now)
    return Step(row.incident_id, "stopped", row.policy, reason=reason)


def fire(store: Store, cfg: Config, row: EscalationRow, now: datetime, worker: str,
         actor: str = ACTOR) -> Step | None:
    """Fire the level ``row`` is at; None when another worker has it (or had it)."""
    policy = cfg.model.escalation.get(row.policy)
    with store.transaction() as tx:
        inc = incident_rows.get(tx, row.incident_id)
        why = "incident gone" if inc is None else stop_reason(inc)
        if why is None and policy is None:
            why = f"policy {row.policy!r} is no longer in the config"
        if why is None and not ladder.claim(tx, row.incident_id, row.next_level, row.round, worker, now, CLAIM_TTL):
            return None
    if why is not None:
        return _stop(store, row, why, now)
    assert policy is not None
    level, rnd = row.next_level, row.round
    people, receivers, unreached = targets(cfg, store, policy.levels[level], now)
    nxt, nrnd, at, stopped = _next(policy, level, rnd, now)
    try:
        with store.transaction() as tx:
            inc = incident_rows.get(tx, row.incident_id)
            assert inc is not None
            why = stop_reason(inc)
            if why is not None:  # acknowledged while we resolved the targets
                ladder.stop(tx, row.incident_id, why, now)
                return Step(row.incident_id, "stopped", row.policy, reason=why)
            # advance first: on PostgreSQL it locks the row, so an ack stopping it waits or wins
            if not ladder.advance(tx, row.incident_id, level, rnd, worker, now, next_level=nxt, next_round=nrnd,
                                  next_at=at, stopped=stopped):
                raise _TakenOver
            enqueued = []
            for r in receivers:
                key = f"esc:{inc.id}:{rnd}:{level}:{r}"
                if outbox.enqueue(tx, dedup_key=key, group_key=f"incident:{inc.id}", receiver=r, kind=KIND,
                                  payload=_payload(cfg, inc, r, key, row.policy, level, rnd, people, now), now=now):
                    enqueued.append(r)
            detail = {"policy": row.policy, "level": level + 1, "round": rnd + 1, "people": people,
                      "receivers": receivers, "unreached": unreached}
            if stopped:
                detail["last"] = True
            incident_rows.add_event(tx, inc.id, now, "escalated", actor, detail)
    except _TakenOver:
        return None
    return Step(row.incident_id, "fired", row.policy, level + 1, rnd + 1, people, receivers, enqueued, unreached)


def step(store: Store, cfg: Config, now: datetime, worker: str, *, only: int | None = None,
         limit: int = BATCH) -> list[Step]:
    """Fire every due level (of incident ``only``, when given). One incident's failure is an
    ``error`` step; the others go on."""
    with store.read() as tx:
        due = ladder.due(tx, now, limit)
    out: list[Step] = []
    for row in due:
        if only is not None and row.incident_id != only:
            continue
        try:
            done = fire(store, cfg, row, now, worker)
        except Exception as e:  # isolated: the next ladder still fires; the claim lapses and it is retried
            out.append(Step(row.incident_id, "error", row.policy, row.next_level + 1, row.round + 1,
                            reason=f"{type(e).__name__}: {e}"))
            continue
        if done is not None:
            out.append(done)
    return out


def escalate(store: Store, cfg: Config, incident_id: int, actor: str, now: datetime, worker: str) -> Step:
    """Fire the incident's next level now (by hand). Refused when it has no ladder, was
    acknowledged or closed, or its ladder has run out."""
    with store.transaction() as tx:
        inc = incident_rows.get(tx, incident_id)
        if inc is None:
            raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list --all` lists them")
        row = ladder.get(tx, incident_id)
        if row is None:
            raise UsageError(f"incident {incident_id} has no escalation policy",
                             hint="incidents.escalation maps severities to policies (docs/escalation.md)")
        why = stop_reason(inc) or row.stopped
        if why is not None:
            raise InvalidTransition(f"incident {incident_id} does not escalate any more: {why}",
                                    hint="escalation runs while an incident is unacknowledged (triage)")
        ladder.hurry(tx, incident_id, now)
        row = ladder.get(tx, incident_id)
    assert row is not None
    if row.claimed_until is not None and row.claimed_until >= now:
        raise IncidentConflict(f"incident {incident_id}'s level {row.next_level + 1} is being fired now "
                                f"(by {row.claimed_by})", hint="look again with `opsbook incident show`")
    done = fire(store, cfg, row, now, worker, actor)
    if done is None:
        raise IncidentConflict(f"incident {incident_id}'s level {row.next_level + 1} was fired by another worker",
                                hint=f"`opsbook incident show {incident_id}` shows where it is")
    return done


def release(store: Store, worker: str) -> int:
    """Drop this worker's claims (a daemon giving up its work at exit)."""
    with store.transaction() as tx:
        return ladder.release(tx, worker)
