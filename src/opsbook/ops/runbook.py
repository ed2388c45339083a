"""Run a runbook and keep its record: ``run``, ``resume``, ``approve``, ``reject``, ``ack``,
``abort``, ``rollback``, ``record``, ``runs``. The CLI (cli/runbook_run.py), the daemon and the
dashboard call these.

A run walks the main section's actions in order. A step is rendered by its kind, confirmed when
it asks to be, run with retries, judged by ``expect`` (else the kind's default), and its ``save``
values go to later steps. A checklist item is acknowledged by the operator (a callback in a
terminal; non-interactively the run waits for ``runbook ack``). An ``approval`` step, or a
``confirm=true`` step in an environment listed under ``runbooks.require_approval``, waits for an
operator other than the runner. A step that fails (unless ``continue_on_error``) ends the walk and
the ``## Rollback`` section runs. Every attempt, acknowledgement and decision is one immutable
row (store/runbook_runs.py); the run row moves by compare-and-set, so two people acting on one
run cannot both win. Time comes from the injected ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import RunbookLocked, RunbookRunConflict, UsageError
from ..results import utcnow
from ..runbooks.model import Runbook, Step
from ..runbooks.steps.base import StepKind
from ..store import Store
from ..store import incidents as incident_rows
from ..store import runbook_runs as rows
from . import runbook_step as one
from . import runbook_walk as walk
from .runbook_walk import Hooks, Record, record

if TYPE_CHECKING:
    from ..config.load import Config
    from ..registry import Registry

__all__ = ["Hooks", "Record", "abort", "ack", "approve", "record", "reject", "resume", "rollback", "run", "runs"]

RESUMABLE = ("failed", "interrupted", "waiting")


# -- starting ------------------------------------------------------------------------------------


def run(store: Store, cfg: Config, runbook: Runbook, params: Mapping[str, str], operator: str, *,
        environment: str | None = None, dry_run: bool = False, yes: bool = False, incident_id: int | None = None,
        hooks: Hooks | None = None, clock: Callable[[], datetime] = utcnow, wait_lock: float = 0.0,
        sleep: Callable[[float], None] | None = None, kinds: Registry[StepKind] | None = None) -> Record:
    """Start a run and walk it as far as it goes: to its end, or to a wait (checklist,
    approval, confirmation). Raises before anything runs on bad input, a refused environment or
    a held lock (RunbookLocked names the holder; ``wait_lock`` seconds to wait for it first)."""
    values, secret_names = one.resolve_params(runbook, params)
    if runbook.env and environment not in runbook.env:
        raise UsageError(f"runbook {runbook.name} may not run in environment {environment or '(none)'}",
                         hint=f"its env: allows {', '.join(runbook.env)}; pick one with --env")
    kinds = kinds or walk.default_kinds()
    for action in runbook.actions("main") + runbook.actions("rollback"):
        if isinstance(action, Step):
            kinds.lookup(action.kind)  # an unknown kind is bad input, before anything runs
    if incident_id is not None:
        with store.read() as tx:
            if incident_rows.get(tx, incident_id) is None:
                raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list` lists them")
    row = _start(store, runbook, values, secret_names, operator, environment, incident_id, dry_run, clock,
                 wait_lock, sleep)
    w = walk.Walk(store, cfg, runbook, row, values, secret_names, operator, hooks or Hooks(), clock, kinds, yes)
    walk.incident_event(w, "started")
    return walk.go(w, set())


def _start(store: Store, runbook: Runbook, values: dict[str, str], secret_names: frozenset[str], operator: str,
           environment: str | None, incident_id: int | None, dry_run: bool, clock: Callable[[], datetime],
           wait_lock: float, sleep: Callable[[float], None] | None) -> rows.RunRow:
    import time

    deadline = time.monotonic() + wait_lock
    while True:
        try:
            with store.transaction() as tx:
                row = rows.insert_run(tx, runbook=runbook.name, content_hash=runbook.content_hash,
                                      params=one.recorded_params(values, secret_names), operator=operator,
                                      environment=environment, incident_id=incident_id, dry_run=dry_run, now=clock())
                if runbook.lock and not dry_run:  # a dry-run changes nothing: it takes no lock
                    rows.mark_stale(tx, clock(), one.STALE_AFTER)  # a dead runner's run holds no lock
                    walk.take_lock(tx, runbook.lock, row, operator, clock())
                return row
        except RunbookLocked:
            if time.monotonic() >= deadline:
                raise
            (sleep or time.sleep)(min(1.0, max(0.0, deadline - time.monotonic())))


# -- continuing and deciding ---------------------------------------------------------------------


def resume(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *,
           params: Mapping[str, str] | None = None, force: bool = False, yes: bool = False,
           hooks: Hooks | None = None, clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER,
           kinds: Registry[StepKind] | None = None) -> Record:
    """Continue a failed, interrupted or waiting run at its first action not completed."""
    now = clock()
    row = walk.load_run(store, run_id, now, stale_after)
    if row.status not in RESUMABLE:
        alive = f"its runner is alive (heartbeat {row.heartbeat_at.isoformat(timespec='seconds')})"
        raise RunbookRunConflict(f"run {run_id} is {row.status}: only a failed, interrupted or waiting run resumes",
                                 hint="start a new one with `opsbook runbook run`" if row.status in rows.FINAL
                                 else alive)
    if row.dry_run:
        raise RunbookRunConflict(f"run {run_id} was a dry-run: nothing to resume", hint="start a real run")
    w, steps = walk.walker(store, cfg, runbook, row, operator, params or {}, hooks, clock, kinds, yes)
    walk.hash_check(runbook, row, steps, force)
    waiting = row.waiting or {}
    if row.status == rows.WAITING and waiting.get("kind") in ("checklist", "approval"):
        expired = walk.expired(w, now)
        if expired is not None:
            return expired
        if waiting["kind"] == "approval":
            raise RunbookRunConflict(f"run {run_id} waits for an approval of step {waiting['name']} "
                                     f"(until {waiting['expires_at']})",
                                     hint=f"another operator runs: opsbook runbook approve {run_id}")
        if waiting["kind"] == "checklist" and w.hooks.ack is None:
            raise RunbookRunConflict(f"run {run_id} waits for checklist item {waiting['name']}: {waiting.get('text')}",
                                     hint=f"opsbook runbook ack {run_id}")
    with store.transaction() as tx:
        if runbook.lock:
            rows.mark_stale(tx, now, stale_after)  # a dead runner's run holds no lock
            walk.take_lock(tx, runbook.lock, row, operator, now)
        moved = rows.move(tx, row, rows.RUNNING, now)
        if moved is None:
            raise walk.conflict(tx, run_id)
    w.run = moved
    walk.incident_event(w, "resumed")
    return walk.go(w, walk.completed_actions(runbook, steps))


def rollback(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *,
             params: Mapping[str, str] | None = None, hooks: Hooks | None = None,
             clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER,
             kinds: Registry[StepKind] | None = None) -> Record:
    """Run the rollback section of a run that is not running now."""
    now = clock()
    row = walk.load_run(store, run_id, now, stale_after)
    if row.status == rows.RUNNING or row.dry_run:
        raise RunbookRunConflict(f"run {run_id} is {'a dry-run' if row.dry_run else 'running'}: not rolled back",
                                 hint=f"abort it first: opsbook runbook abort {run_id}" if not row.dry_run else "")
    if not runbook.actions("rollback"):
        raise UsageError(f"runbook {runbook.name} has no ## Rollback section")
    w, _ = walk.walker(store, cfg, runbook, row, operator, params or {}, hooks, clock, kinds, True)
    with store.transaction() as tx:
        if runbook.lock:
            walk.take_lock(tx, runbook.lock, row, operator, now)
        moved = rows.move(tx, row, rows.RUNNING, now, current_step="rollback")
        if moved is None:
            raise walk.conflict(tx, run_id)
    w.run = moved
    return walk.rolled_back(w, f"rollback requested by {operator}")


def _waiting_for(tx: Any, run_id: int, kind: str) -> rows.RunRow:
    row = walk.get_run(tx, run_id)
    waiting = row.waiting or {}
    if row.status != rows.WAITING or waiting.get("kind") != kind:
        on = f"waits for {waiting.get('kind')} {waiting.get('name')}" if row.status == rows.WAITING else row.status
        raise RunbookRunConflict(f"run {run_id} is not waiting for {'an' if kind == 'approval' else 'a'} {kind}: "
                                 f"it {'is ' if row.status != rows.WAITING else ''}{on}",
                                 hint=f"`opsbook runbook record {run_id}` shows where it is")
    return row


def approve(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *, step: str | None = None,
            clock: Callable[[], datetime] = utcnow, kinds: Registry[StepKind] | None = None) -> Record:
    """An operator other than the runner approves the step the run waits on; ``resume``
    continues it. An approval past its TTL is refused: the run fails and its rollback runs."""
    now = clock()
    with store.transaction() as tx:
        row = _waiting_for(tx, run_id, "approval")
        waiting = row.waiting or {}
        if step is not None and step != waiting.get("name"):
            raise RunbookRunConflict(f"run {run_id} waits for an approval of step {waiting.get('name')}, not {step}")
        if operator == row.operator:
            raise RunbookRunConflict(f"{operator} started run {run_id}: the approval must come from another operator",
                                     hint="ask a colleague to run `opsbook runbook approve "
                                          f"{run_id}` (or --as names who approves)")
    if datetime.fromisoformat(str(waiting["expires_at"])) <= now:
        blanks = {p.name: "" for p in runbook.params if p.secret}  # secrets are not recorded
        w, _ = walk.walker(store, cfg, runbook, row, row.operator, blanks, None, clock, kinds, True)
        done = walk.expired(w, now)
        assert done is not None
        raise RunbookRunConflict(f"the approval of step {waiting.get('name')} expired at {waiting['expires_at']}: "
                                 f"run {run_id} is now {done.run.status}", hint="start a new run")
    with store.transaction() as tx:
        if rows.decide(tx, int(waiting["approval"]), "approved", operator, now, None) is None:
            raise RunbookRunConflict(f"the approval of step {waiting.get('name')} was decided already")
        moved = rows.move(tx, row, rows.WAITING, now, waiting={**waiting, "kind": "resume", "approved_by": operator})
        if moved is None:
            raise walk.conflict(tx, run_id)
    return record(store, run_id)


def reject(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *, reason: str = "",
           params: Mapping[str, str] | None = None, hooks: Hooks | None = None,
           clock: Callable[[], datetime] = utcnow, kinds: Registry[StepKind] | None = None) -> Record:
    """Reject the step the run waits on: the run is aborted and its rollback runs."""
    now = clock()
    with store.transaction() as tx:
        row = _waiting_for(tx, run_id, "approval")
    waiting = row.waiting or {}
    secret_blanks = {p.name: "" for p in runbook.params if p.secret}
    w, _ = walk.walker(store, cfg, runbook, row, operator, {**secret_blanks, **(params or {})}, hooks, clock, kinds,
                       True)
    with store.transaction() as tx:
        if rows.decide(tx, int(waiting["approval"]), "rejected", operator, now, reason or None) is None:
            raise RunbookRunConflict(f"the approval of step {waiting.get('name')} was decided already")
        moved = rows.move(tx, row, rows.RUNNING, now)
        if moved is None:
            raise walk.conflict(tx, run_id)
    w.run = moved
    walk.instant(w, "main", int(waiting["index"]), str(waiting["name"]), "approval", reason or "rejected",
                 "rejected", actor=operator, error=reason or None)
    why = f"rejected by {operator}" + (f": {reason}" if reason else "")
    if not runbook.actions("rollback"):
        return walk.finish(w, "aborted", why)
    return walk.rolled_back(w, why)


def ack(store: Store, runbook: Runbook, run_id: int, operator: str, *, item: str | None = None,
        clock: Callable[[], datetime] = utcnow) -> Record:
    """Acknowledge the checklist item a non-interactive run waits on; ``resume`` continues it.
    ``item`` is its name (check-3) or number (3)."""
    now = clock()
    with store.transaction() as tx:
        row = _waiting_for(tx, run_id, "checklist")
        waiting = row.waiting or {}
        name = str(waiting.get("name"))
        if item is not None and item not in (name, name.rsplit("-", 1)[-1]):
            raise RunbookRunConflict(f"run {run_id} waits for checklist item {name}, not {item}",
                                     hint="items are acknowledged in order")
        if datetime.fromisoformat(str(waiting["expires_at"])) <= now:
            raise RunbookRunConflict(f"checklist item {name} expired at {waiting['expires_at']}",
                                     hint=f"`opsbook runbook resume {run_id}` fails the run and rolls it back")
        moved = rows.move(tx, row, rows.WAITING, now, waiting={**waiting, "kind": "resume", "acked_by": operator})
        if moved is None:
            raise walk.conflict(tx, run_id)
        attempt = 1 + sum(1 for s in rows.steps(tx, run_id) if s.section == "main" and s.index == waiting["index"])
        rows.start_step(tx, run_id, section="main", index=int(waiting["index"]), name=name, kind="checklist",
                        display=str(waiting.get("text", "")), target="", attempt=attempt, now=now, status="acked",
                        actor=operator)
    return record(store, run_id)


def abort(store: Store, run_id: int, operator: str, *, reason: str = "", clock: Callable[[], datetime] = utcnow,
          stale_after: float = one.STALE_AFTER) -> Record:
    """Stop a run where it is (no rollback: `runbook rollback RUN` runs it when wanted). A run
    whose runner is alive stops after its current step."""
    now = clock()
    row = walk.load_run(store, run_id, now, stale_after)
    if row.status not in (rows.RUNNING, *RESUMABLE):
        raise RunbookRunConflict(f"run {run_id} is {row.status}: it has ended already")
    with store.transaction() as tx:
        moved = rows.move(tx, row, "aborted", now, error=f"aborted by {operator}" + (f": {reason}" if reason else ""))
        if moved is None:
            raise walk.conflict(tx, run_id)
        for name in rows.locks_of(tx, run_id):
            rows.release(tx, name, run_id)
        if row.incident_id is not None:
            incident_rows.add_event(tx, row.incident_id, now, "runbook", operator,
                                    {"runbook": row.runbook, "run": run_id, "status": "aborted", "dry_run": False})
    return record(store, run_id)


# -- reading -------------------------------------------------------------------------------------


def runs(store: Store, *, runbook: str | None = None, statuses: tuple[str, ...] | None = None, limit: int = 100,
         clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER) -> list[rows.RunRow]:
    """Runs newest first; a run whose runner died shows (and is marked) interrupted."""
    with store.transaction() as tx:
        rows.mark_stale(tx, clock(), stale_after)
        return rows.listing(tx, runbook, statuses, limit)

