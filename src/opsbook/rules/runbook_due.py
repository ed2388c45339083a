"""Scheduled runbooks as tasks: when each occurrence is due, and the ``runbook [NAME] due|overdue``
rule source.

A runbook with ``schedule:`` (cron, read in ``serve.timezone``) has one occurrence per cron time.
The occurrence owed is the first cron time after the runbook's last completed run (a real run
that succeeded, in this environment); a runbook never completed owes its latest cron time. It is
*due* from that time and *overdue* once its grace (front matter ``grace:``, else
``runbooks.grace``) has passed. Nothing new is stored: the runs table already says when a
runbook was last completed and by whom, so a completed run clears the task by existing.

Routine runbooks (no checklist, no approval) are run by ``opsbook serve``; a routine run that
failed or waits for a confirmation leaves its occurrence owed, so ``runbook NAME overdue``
covers them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..config.load import Config
from ..durations import format_duration
from ..errors import SourceError
from ..runbooks.load import load_all_with_errors
from ..runbooks.model import Runbook
from ..store import runbook_runs as rows
from ..store.store import Store
from .spec import Observation
from .storage import Stored


@dataclass(frozen=True)
class Task:
    runbook: str
    title: str
    schedule: str
    routine: bool  # run by `opsbook serve`; else a due task people work through
    owner: str | None
    due_at: datetime | None  # the occurrence owed; None: the schedule has had no occurrence yet
    grace: float  # seconds
    state: str  # ok | due | overdue (as of ``now``)
    last: rows.RunRow | None  # the last completed run
    open: rows.RunRow | None  # a run in progress (running or waiting)

    @property
    def overdue_at(self) -> datetime | None:
        return self.due_at + timedelta(seconds=self.grace) if self.due_at else None

    def late_by(self, now: datetime) -> float:
        """Seconds past the due time (0 when not due)."""
        return max(0.0, (now - self.due_at).total_seconds()) if self.due_at else 0.0

    def to_dict(self, now: datetime) -> dict[str, object]:
        last = self.last
        return {
            "runbook": self.runbook, "title": self.title, "schedule": self.schedule,
            "kind": "routine" if self.routine else "task", "owner": self.owner, "state": self.state,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "overdue_at": self.overdue_at.isoformat() if self.overdue_at else None,
            "grace_seconds": self.grace, "late_seconds": round(self.late_by(now), 3),
            "last_completed": None if last is None else {
                "run": last.id, "operator": last.operator,
                "at": (last.ended_at or last.started_at).isoformat()},
            "in_progress": None if self.open is None else {"run": self.open.id, "status": self.open.status,
                                                          "step": self.open.current_step},
        }


def _cron(expr: str, at: datetime, tz: str, prev: bool = False) -> datetime:
    from croniter import croniter

    local = at.astimezone(ZoneInfo(tz))
    it = croniter(expr, local)
    found: datetime = it.get_prev(datetime) if prev else it.get_next(datetime)
    return found.astimezone(at.tzinfo)


def owed(schedule: str, last_done: datetime | None, now: datetime, tz: str) -> datetime | None:
    """The occurrence owed: the first cron time after the last completion, else the latest one."""
    if last_done is not None:
        return _cron(schedule, last_done, tz)
    latest = _cron(schedule, now + timedelta(seconds=1), tz, prev=True)  # a time equal to now counts
    return latest if latest <= now else None


def state(due_at: datetime | None, grace: float, now: datetime) -> str:
    if due_at is None or now < due_at:
        return "ok"
    return "overdue" if now >= due_at + timedelta(seconds=grace) else "due"


def tasks(cfg: Config, store: Store, now: datetime, books: dict[str, Runbook] | None = None) -> list[Task]:
    """Every scheduled runbook with the occurrence it owes as of ``now``, by name."""
    if books is None:
        books, _ = load_all_with_errors(cfg)
    scheduled = {n: rb for n, rb in books.items() if rb.schedule}
    if not scheduled:
        return []
    tz = cfg.model.serve.timezone
    with store.read() as tx:
        done = rows.last_done(tx, sorted(scheduled), cfg.env)
    out: list[Task] = []
    for name, rb in sorted(scheduled.items()):
        assert rb.schedule is not None
        last, open_ = done[name]
        grace = rb.grace if rb.grace is not None else cfg.model.runbooks.grace
        due_at = owed(rb.schedule, (last.ended_at or last.started_at) if last else None, now, tz)
        out.append(Task(name, rb.title, rb.schedule, rb.routine, rb.owner, due_at, grace, state(due_at, grace, now),
                        last, open_))
    return out


def describe(t: Task, now: datetime) -> str:
    """One line for an alert's reason and `runbook due`: how late, the last completion, what to run."""
    if t.due_at is None or t.state == "ok":
        return f"runbook {t.runbook}: next due {t.due_at.isoformat() if t.due_at else '(no occurrence yet)'}"
    late = format_duration(round(t.late_by(now) / 60) * 60 or t.late_by(now))  # to the minute
    head = f"runbook {t.runbook} {t.state}: due {t.due_at.isoformat()} ({late} ago, grace {format_duration(t.grace)})"
    last = (f"last completed {(t.last.ended_at or t.last.started_at).isoformat()} by {t.last.operator} "
            f"(run {t.last.id})" if t.last else "never completed")
    going = f"; run {t.open.id} is {t.open.status}" if t.open else ""
    return f"{head}; {last}{going}; run it: opsbook runbook run {t.runbook}"


def observe(cfg: Config, store: Store, stored: list[Stored], now: datetime, target: str,
            mode: str) -> list[Observation]:
    """One instance per scheduled runbook (or the one named): true while it is ``mode`` (due
    holds for overdue ones too). The value is how late, in seconds: past the due time for
    ``due``, past the end of the grace for ``overdue``."""
    books, broken = load_all_with_errors(cfg)
    if target:
        if target in broken:
            raise SourceError(f"runbook {target}: {broken[target].message}")
        if target not in books:
            raise SourceError(f"no runbook named {target!r} in {cfg.model.runbooks.dir}/")
        if not books[target].schedule:
            raise SourceError(f"runbook {target} has no schedule: it is never due",
                              hint="add schedule: (cron) to its front matter")
        books = {target: books[target]}
    out: list[Observation] = []
    for t in tasks(cfg, store, now, books):
        holds = t.state == "overdue" if mode == "overdue" else t.state in ("due", "overdue")
        late = 0.0
        if holds and t.due_at is not None:
            since = t.overdue_at if mode == "overdue" and t.overdue_at else t.due_at
            late = max(0.0, (now - since).total_seconds())
        out.append(Observation({"runbook": t.runbook}, holds, late, describe(t, now)))
    return out
