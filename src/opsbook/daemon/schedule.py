"""What to run and when: pure functions of the config and an injected ``now``.

A unit is one schedulable piece of work: a check (every ``every``), a job (backup, drill or
integrity suite on a cron ``schedule`` in ``serve.timezone``), or one of the daemon's own
chores (rule evaluation, the notification outbox, history rollup). Each unit has a *slot*
(when it is scheduled) and a *due* time (the slot plus jitter), so jitter spreads load
without making a unit drift.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from ..config.load import Config
from ..config.serve import Serve
from ..errors import ConfigError
from ..runbooks.load import load_all_with_errors
from ..runbooks.model import Runbook

CHORES = ("rules", "outbox", "rollup", "escalation")  # the daemon's own periodic work, one unit each


@dataclass(frozen=True)
class Unit:
    kind: str  # check | backup | drill | integrity | runbook | db_snapshot | rules | outbox | rollup | escalation
    name: str
    env: str
    every: float | None = None  # seconds, for checks and chores
    cron: str | None = None  # for jobs

    @property
    def key(self) -> str:
        base = f"{self.kind}:{self.name}"
        return f"{self.env}/{base}" if self.env else base

    @property
    def spec(self) -> str:
        """What the schedule is; a row whose spec changed (on reload) is rescheduled."""
        return f"every {self.every:g}s" if self.every is not None else f"cron {self.cron}"

    @property
    def is_check(self) -> bool:
        return self.kind == "check"


def units_of(cfg: Config) -> list[Unit]:
    """Every unit the config asks the daemon to run. Jobs without a schedule are not scheduled."""
    model = cfg.model
    serve = model.serve
    env = cfg.env or ""
    out = [Unit("check", n, env, every=c.every or model.defaults.every) for n, c in cfg.checks.items()]
    out += [Unit("backup", n, env, cron=b.schedule) for n, b in model.backups.items() if b.schedule]
    out += [Unit("drill", n, env, cron=d.schedule) for n, d in model.drills.items() if d.schedule]
    for n, expr in serve.schedules.integrity.items():
        if n not in model.integrity:
            raise ConfigError(f"no integrity suite named {n!r}", path=f"serve.schedules.integrity.{n}",
                              hint=f"suites: {', '.join(model.integrity) or '(none)'}")
        out.append(Unit("integrity", n, env, cron=expr))
    out += [Unit("runbook", n, env, cron=rb.schedule) for n, rb in routine_runbooks(cfg).items()]
    for n, every in serve.schedules.db_snapshots.items():
        res = model.resources.get(n)
        if res is None or res.kind != "postgres":
            pg = [k for k, r in model.resources.items() if r.kind == "postgres"]
            raise ConfigError(f"no postgres resource named {n!r}", path=f"serve.schedules.db_snapshots.{n}",
                              hint=f"postgres resources: {', '.join(pg) or '(none)'}")
        out.append(Unit("db_snapshot", n, env, every=every))
    out.append(Unit("rules", "evaluate", env, every=serve.rules_every))
    out.append(Unit("outbox", "deliver", env, every=serve.outbox_every))
    out.append(Unit("rollup", "prune", env, every=serve.rollup_every))
    out.append(Unit("escalation", "step", env, every=serve.escalation_every))
    return out


def routine_runbooks(cfg: Config) -> dict[str, Runbook]:
    """Runbooks with ``schedule:`` and no checklist or approval: `opsbook serve` runs them. A
    file that does not parse is left out (`opsbook runbook lint` names it); runbooks with manual
    items are due tasks instead (rules/runbook_due.py), never run by the daemon."""
    books, _ = load_all_with_errors(cfg)
    return {n: rb for n, rb in books.items() if rb.routine}


def next_cron(expr: str, after: datetime, tz: str) -> datetime:
    """The first time strictly after ``after`` matching ``expr``, read in time zone ``tz``."""
    local = after.astimezone(ZoneInfo(tz))
    nxt: datetime = croniter(expr, local).get_next(datetime)
    return nxt.astimezone(after.tzinfo)


def first_slot(unit: Unit, now: datetime, tz: str) -> datetime:
    """A new unit: checks and chores start now; jobs wait for their next cron time."""
    if unit.cron is not None:
        return next_cron(unit.cron, now, tz)
    return now


def next_slot(unit: Unit, slot: datetime, now: datetime, tz: str) -> datetime:
    """The slot after ``slot``, strictly after ``now``. A unit that fell behind (the daemon was down,
    a run overran) has run once now, not once per missed slot."""
    if unit.cron is not None:
        return next_cron(unit.cron, max(slot, now), tz)
    assert unit.every is not None
    # the first slot on the unit's grid after now: a run never lands twice in one interval
    missed = max(0, math.floor((now - slot).total_seconds() / unit.every))
    return slot + timedelta(seconds=unit.every * (missed + 1))


def interval(unit: Unit, slot: datetime, tz: str) -> float:
    """Seconds between this slot and the one after it: what jitter is a fraction of."""
    if unit.every is not None:
        return unit.every
    assert unit.cron is not None
    return (next_cron(unit.cron, slot, tz) - slot).total_seconds()


def jitter(unit: Unit, slot: datetime, serve: Serve, rng: random.Random) -> float:
    """A random delay in [0, min(serve.jitter x interval, serve.max_jitter)). Only ever a delay:
    a cron job never starts before its schedule."""
    bound = min(serve.jitter * interval(unit, slot, serve.timezone), serve.max_jitter)
    return rng.uniform(0.0, bound) if bound > 0 else 0.0


def backoff(failures: int, serve: Serve) -> float:
    """Seconds to wait after the ``failures``-th error in a row: doubling, capped."""
    if failures <= 0:
        return 0.0
    return float(min(serve.backoff * 2 ** min(failures - 1, 30), serve.backoff_max))
