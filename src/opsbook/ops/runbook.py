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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.secrets import redactor
from ..errors import OpsbookError, RunbookLocked, RunbookRunConflict, UsageError
from ..results import utcnow
from ..runbooks.model import Action, Checklist, Runbook, Section, Step
from ..runbooks.steps.base import Rendered, StepContext, StepKind, StepOutcome
from ..store import Store
from ..store import incidents as incident_rows
from ..store import runbook_runs as rows
from . import runbook_step as one

if TYPE_CHECKING:
    from ..config.load import Config
    from ..registry import Registry

DONE = ("ok", "skipped", "acked", "approved")  # a step with one of these is not repeated by resume
RESUMABLE = ("failed", "interrupted", "waiting")


@dataclass
class Hooks:
    """How a run talks to a person. ``confirm``/``ack`` None: non-interactive (the run waits
    instead of asking); ``emit`` gets step output as it comes; ``on_step`` gets each step row
    when it starts (status running) and when it ends."""

    confirm: Callable[[Step, Rendered], bool] | None = None
    ack: Callable[[Checklist], bool] | None = None
    emit: Callable[[bytes], None] | None = None
    on_step: Callable[[rows.StepRow], None] | None = None


@dataclass(frozen=True)
class Record:
    """A run and everything it did: three queries, whatever the number of steps."""

    run: rows.RunRow
    steps: list[rows.StepRow]
    approvals: list[rows.ApprovalRow]


@dataclass
class _Walk:
    store: Store
    cfg: Config
    runbook: Runbook
    run: rows.RunRow
    values: dict[str, str]
    secret_names: frozenset[str]
    operator: str
    hooks: Hooks
    clock: Callable[[], datetime]
    kinds: Registry[StepKind]
    yes: bool = False
    approvals: list[rows.ApprovalRow] = field(default_factory=list)
    attempts: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        return self.run.dry_run


def _kinds() -> Registry[StepKind]:
    from ..runbooks.steps.registry import STEPS

    return STEPS


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
    kinds = kinds or _kinds()
    for action in runbook.actions("main") + runbook.actions("rollback"):
        if isinstance(action, Step):
            kinds.lookup(action.kind)  # an unknown kind is bad input, before anything runs
    if incident_id is not None:
        with store.read() as tx:
            if incident_rows.get(tx, incident_id) is None:
                raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list` lists them")
    row = _start(store, runbook, values, secret_names, operator, environment, incident_id, dry_run, clock,
                 wait_lock, sleep)
    w = _Walk(store, cfg, runbook, row, values, secret_names, operator, hooks or Hooks(), clock, kinds, yes)
    _incident_event(w, "started")
    return _go(w, set())


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
                    _lock(tx, runbook.lock, row, operator, clock())
                return row
        except RunbookLocked:
            if time.monotonic() >= deadline:
                raise
            (sleep or time.sleep)(min(1.0, max(0.0, deadline - time.monotonic())))


def _lock(tx: Any, name: str, run: rows.RunRow, operator: str, now: datetime) -> None:
    held = rows.acquire(tx, name, run.id, operator, now)
    if held is not None:
        raise RunbookLocked(f"lock {name!r} is held by run {held.run_id} ({held.holder}, since "
                            f"{held.since.isoformat(timespec='seconds')})",
                            hint=f"wait for it (--wait-lock 10m), or see `opsbook runbook record {held.run_id}`")


# -- the walk ------------------------------------------------------------------------------------


def _go(w: _Walk, completed: set[int]) -> Record:
    """Walk the main section from the first action not completed, then end the run."""
    with w.store.read() as tx:
        w.approvals = rows.approvals(tx, w.run.id)
    failed: str | None = None
    for idx, action in enumerate(w.runbook.actions("main")):
        if idx in completed:
            continue
        if not _still_running(w):
            return record(w.store, w.run.id)
        verdict = _action(w, "main", idx, action)
        if verdict in ("waiting", "aborted"):
            return record(w.store, w.run.id)
        if verdict == "failed":
            failed = failed or action.name
            if not w.dry_run:  # a dry-run goes on: it shows every step
                return _rolled_back(w, f"step {action.name} failed")
    return _finish(w, "failed", f"step {failed} failed") if failed else _finish(w, "succeeded")


def _still_running(w: _Walk) -> bool:
    """False when someone else moved the run (``abort`` from another terminal)."""
    with w.store.read() as tx:
        now_row = rows.get_run(tx, w.run.id)
    return now_row is not None and now_row.version == w.run.version


def _action(w: _Walk, section: Section, idx: int, action: Action) -> str:
    """ok | failed | waiting | aborted for one action."""
    with w.store.transaction() as tx:
        rows.at_step(tx, w.run.id, action.name, w.clock())
    if isinstance(action, Checklist):
        return _checklist(w, section, idx, action)
    step = action
    kind = w.kinds.lookup(step.kind)
    if step.when is not None and not _when(w, step):
        _instant(w, section, idx, step.name, step.kind, f"when {step.when}", "skipped",
                 error=f"skipped: {step.when} is false")
        return "ok"
    needs_approval = kind.pauses or (step.confirm and w.run.environment in w.cfg.model.runbooks.require_approval)
    try:
        rendered = kind.render(step, w.values, w.secret_names, w.cfg)
    except OpsbookError as e:
        _instant(w, section, idx, step.name, step.kind, step.body.strip(), "error", error=e.message)
        return "ok" if step.continue_on_error else "failed"
    if w.dry_run and (needs_approval or not rendered.read_only):
        _instant(w, section, idx, step.name, step.kind, rendered.display, "dry_run", target=rendered.target,
                 error="not run: " + ("waits for an approval" if needs_approval else "it changes things"))
        w.values.update({n: f"<{n} from {step.name}>" for n, _ in step.save})
        return "ok"
    if section == "main" and needs_approval:
        got = _approval(w, idx, step)
        if got != "approved":
            return got
        if kind.pauses:
            return "ok"
    elif step.confirm and section == "main" and not w.dry_run and not w.yes:
        if w.hooks.confirm is None:
            return _wait(w, {"kind": "confirm", "section": section, "index": idx, "name": step.name})
        if not w.hooks.confirm(step, rendered):
            _end(w, "aborted", error=f"{w.operator} declined step {step.name}")
            return "aborted"
    if kind.pauses:  # an approval step met outside the main walk (rollback): nobody is asked
        _instant(w, section, idx, step.name, step.kind, rendered.display, "skipped",
                 error="approvals are not waited for during a rollback")
        return "ok"
    ok = _execute(w, section, idx, step, kind, rendered)
    return "ok" if ok or step.continue_on_error else "failed"


def _when(w: _Walk, step: Step) -> bool:
    assert step.when is not None
    try:
        return one.condition(step.when, w.values)
    except OpsbookError:
        return False


def _execute(w: _Walk, section: Section, idx: int, step: Step, kind: StepKind, rendered: Rendered) -> bool:
    """Run a step with its retries: one row per attempt. True when an attempt was ok."""
    timeout = step.timeout or w.cfg.model.runbooks.step_timeout
    for _ in range(step.retries + 1):
        row = _instant(w, section, idx, step.name, step.kind, rendered.display, rows.RUNNING, target=rendered.target)
        stream = one.RedactedStream(w.hooks.emit) if w.hooks.emit else None
        ctx = StepContext(w.cfg, w.cfg.path.parent, timeout, dict(w.values), w.secret_names,
                          w.run.environment, stream)
        with one.heartbeat(w.store, w.run.id, w.clock):
            try:
                outcome = kind.run(rendered, ctx)
            except OpsbookError as e:
                outcome = StepOutcome({}, error=e.message)
            except Exception as e:  # a kind's bug is this step's error, not a lost run
                outcome = StepOutcome({}, error=f"{type(e).__name__}: {e}")
        if stream is not None:
            stream.flush()
        status, assertions = one.judge(step, kind.default_expect, outcome)
        saved = one.captured(step, outcome.observations) if status == "ok" else {}
        secret_saved = {k for k, v in saved.items() if redactor.text(v) != v}
        with w.store.transaction() as tx:
            ended = rows.end_step(tx, row.id, status=status, now=w.clock(), exit_code=outcome.exit_code,
                                  output=redactor.text(outcome.output), output_bytes=outcome.output_bytes,
                                  observations=one.kept_observations(outcome.observations),
                                  captured={k: redactor.text(v) for k, v in saved.items()} or None,
                                  assertions=assertions or None,
                                  error=redactor.text(outcome.error) if outcome.error else None)
        if w.hooks.on_step and ended is not None:
            w.hooks.on_step(ended)
        if status == "ok":
            w.values.update(saved)
            w.secret_names = w.secret_names | secret_saved
            return True
    return False


def _instant(w: _Walk, section: str, idx: int, name: str, kind: str, display: str, status: str, *,
             target: str = "", error: str | None = None, actor: str | None = None) -> rows.StepRow:
    attempt = w.attempts.get((section, idx), 0) + 1
    w.attempts[(section, idx)] = attempt
    with w.store.transaction() as tx:
        row = rows.start_step(tx, w.run.id, section=section, index=idx, name=name, kind=kind,
                              display=redactor.text(display), target=target, attempt=attempt, now=w.clock(),
                              status=status, actor=actor, error=error)
    if w.hooks.on_step:
        w.hooks.on_step(row)
    return row


def _checklist(w: _Walk, section: Section, idx: int, item: Checklist) -> str:
    if w.dry_run:
        _instant(w, section, idx, item.name, "checklist", item.text, "dry_run", error="to acknowledge")
        return "ok"
    if w.hooks.ack is not None:
        if w.hooks.ack(item):
            _instant(w, section, idx, item.name, "checklist", item.text, "acked", actor=w.operator)
            return "ok"
        if section == "rollback":
            _instant(w, section, idx, item.name, "checklist", item.text, "skipped", error="not acknowledged")
            return "ok"
    elif section == "rollback":  # a rollback does not stop to wait for anyone
        _instant(w, section, idx, item.name, "checklist", item.text, "skipped",
                 error="not acknowledged: a non-interactive rollback does not wait")
        return "ok"
    ttl = w.cfg.model.runbooks.checklist_timeout
    return _wait(w, {"kind": "checklist", "section": section, "index": idx, "name": item.name, "text": item.text,
                     "expires_at": _iso_in(w.clock(), ttl)})


def _iso_in(now: datetime, seconds: float) -> str:
    from datetime import timedelta

    return (now + timedelta(seconds=seconds)).isoformat()


def _approval(w: _Walk, idx: int, step: Step) -> str:
    """approved (go on), or waiting for a decision (requested now if it was not)."""
    mine = [a for a in w.approvals if a.section == "main" and a.index == idx]
    last = mine[-1] if mine else None
    if last is not None and last.decision == "approved":
        if w.kinds.lookup(step.kind).pauses:
            with w.store.transaction() as tx:
                row = rows.start_step(tx, w.run.id, section="main", index=idx, name=step.name, kind=step.kind,
                                      display=redactor.text(step.body.strip()), target="a second operator",
                                      attempt=1, now=last.decided_at or w.clock(), status="approved",
                                      actor=last.decided_by)
            if w.hooks.on_step:
                w.hooks.on_step(row)
        return "approved"
    if last is None or last.decision is not None:
        with w.store.transaction() as tx:
            last = rows.request_approval(tx, w.run.id, section="main", index=idx, step=step.name,
                                         requested_by=w.operator, now=w.clock(),
                                         ttl=w.cfg.model.runbooks.approval_ttl)
        w.approvals.append(last)
    return _wait(w, {"kind": "approval", "section": "main", "index": idx, "name": step.name,
                     "approval": last.id, "expires_at": last.expires_at.isoformat()})


def _wait(w: _Walk, waiting: dict[str, Any]) -> str:
    _end(w, rows.WAITING, waiting=waiting)
    return "waiting"


def _end(w: _Walk, status: str, *, waiting: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Move the run (compare-and-set); a final status gives the lock back."""
    with w.store.transaction() as tx:
        moved = rows.move(tx, w.run, status, w.clock(), waiting=waiting, error=error)
        if moved is None:
            raise _moved(tx, w.run.id)
        w.run = moved
        if status in rows.FINAL and w.runbook.lock:
            rows.release(tx, w.runbook.lock, w.run.id)
    if status in rows.FINAL:
        _incident_event(w, status)


def _moved(tx: Any, run_id: int) -> RunbookRunConflict:
    now_row = rows.get_run(tx, run_id)
    return RunbookRunConflict(f"run {run_id} changed under this runner: it is {now_row.status if now_row else 'gone'}",
                              hint=f"`opsbook runbook record {run_id}` shows what happened")


def _finish(w: _Walk, status: str, error: str | None = None) -> Record:
    _end(w, status, error=error)
    return record(w.store, w.run.id)


def _rolled_back(w: _Walk, why: str) -> Record:
    """Run the ``## Rollback`` section (when there is one) and end the run accordingly."""
    actions = w.runbook.actions("rollback")
    if not actions:
        return _finish(w, "failed", why)
    with w.store.transaction() as tx:
        rows.at_step(tx, w.run.id, "rollback", w.clock())
    for idx, action in enumerate(actions):
        if _action(w, "rollback", idx, action) != "ok":
            return _finish(w, "rollback_failed", f"{why}; the rollback failed at {action.name}")
    return _finish(w, "rolled_back", why)


def _incident_event(w: _Walk, what: str) -> None:
    if w.run.incident_id is None:
        return
    detail = {"runbook": w.runbook.name, "run": w.run.id, "status": what, "dry_run": w.run.dry_run}
    with w.store.transaction() as tx:
        incident_rows.add_event(tx, w.run.incident_id, w.clock(), "runbook", w.operator, detail)


# -- continuing and deciding ---------------------------------------------------------------------


def _get(tx: Any, run_id: int) -> rows.RunRow:
    row = rows.get_run(tx, run_id)
    if row is None:
        raise UsageError(f"no runbook run {run_id}", hint="`opsbook runbook runs` lists them")
    return row


def _load(store: Store, run_id: int, now: datetime, stale_after: float) -> rows.RunRow:
    """The run, marked interrupted first when its runner stopped heartbeating."""
    with store.transaction() as tx:
        rows.mark_stale(tx, now, stale_after, run_id)
        return _get(tx, run_id)


def _walker(store: Store, cfg: Config, runbook: Runbook, row: rows.RunRow, operator: str, params: Mapping[str, str],
            hooks: Hooks | None, clock: Callable[[], datetime], kinds: Registry[StepKind] | None,
            yes: bool) -> tuple[_Walk, list[rows.StepRow]]:
    """A walk continuing ``row``: its parameters (secret ones given again), its saved values."""
    if runbook.name != row.runbook:
        raise UsageError(f"run {row.id} is a run of {row.runbook}, not {runbook.name}")
    secret = {p.name for p in runbook.params if p.secret}
    given = {k: str(v) for k, v in row.params.items() if runbook.param(k) is not None and k not in secret}
    absent = [p.name for p in runbook.params if p.secret and p.name not in params]
    if absent:
        raise UsageError(f"run {row.id}'s secret parameters are not recorded: give them again",
                         hint=" ".join(f"-p {n}=..." for n in absent))
    values, secret_names = one.resolve_params(runbook, {**given, **params})
    with store.read() as tx:
        steps = rows.steps(tx, row.id)
    for s in steps:
        if s.status == "ok" and s.captured:
            values.update(s.captured)
    w = _Walk(store, cfg, runbook, row, values, secret_names, operator, hooks or Hooks(), clock,
              kinds or _kinds(), yes)
    for s in steps:
        w.attempts[(s.section, s.index)] = max(w.attempts.get((s.section, s.index), 0), s.attempt)
    return w, steps


def _completed(runbook: Runbook, steps: list[rows.StepRow]) -> set[int]:
    actions = runbook.actions("main")
    last: dict[int, rows.StepRow] = {}
    for s in steps:
        if s.section == "main":
            last[s.index] = s
    done = set()
    for idx, s in last.items():
        a = actions[idx] if idx < len(actions) else None
        if s.status in DONE or (isinstance(a, Step) and a.continue_on_error and s.status != rows.RUNNING):
            done.add(idx)
    return done


def _hash_check(runbook: Runbook, row: rows.RunRow, steps: list[rows.StepRow], force: bool) -> None:
    if runbook.content_hash == row.content_hash or force:
        return
    names = [a.name for a in runbook.actions("main")]
    gone = sorted({s.name for s in steps if s.section == "main" and s.name not in names})
    moved = sorted({s.name for s in steps if s.section == "main" and s.name in names and names[s.index:s.index + 1]
                    != [s.name]})
    what = "; ".join(x for x in (f"steps no longer there: {', '.join(gone)}" if gone else "",
                                 f"steps moved: {', '.join(moved)}" if moved else "") if x) or "the text changed"
    raise RunbookRunConflict(f"runbook {runbook.name} changed since run {row.id} started "
                             f"({row.content_hash[:12]} -> {runbook.content_hash[:12]}): {what}",
                             hint="check the change, then resume with --force to continue with the new text")


def _expired(w: _Walk, now: datetime) -> Record | None:
    """A waiting run whose checklist or approval timed out: it fails and its rollback runs."""
    waiting = w.run.waiting or {}
    until = waiting.get("expires_at")
    if w.run.status != rows.WAITING or not until or datetime.fromisoformat(until) > now:
        return None
    if waiting.get("kind") == "approval":
        with w.store.transaction() as tx:
            rows.decide(tx, int(waiting["approval"]), "expired", "opsbook", now, "nobody approved in time")
    with w.store.transaction() as tx:
        moved = rows.move(tx, w.run, rows.RUNNING, now, waiting=waiting)
        if moved is None:
            raise _moved(tx, w.run.id)
        w.run = moved
    return _rolled_back(w, f"{waiting.get('kind')} {waiting.get('name')} expired at {until}")


def resume(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *,
           params: Mapping[str, str] | None = None, force: bool = False, yes: bool = False,
           hooks: Hooks | None = None, clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER,
           kinds: Registry[StepKind] | None = None) -> Record:
    """Continue a failed, interrupted or waiting run at its first action not completed."""
    now = clock()
    row = _load(store, run_id, now, stale_after)
    if row.status not in RESUMABLE:
        alive = f"its runner is alive (heartbeat {row.heartbeat_at.isoformat(timespec='seconds')})"
        raise RunbookRunConflict(f"run {run_id} is {row.status}: only a failed, interrupted or waiting run resumes",
                                 hint="start a new one with `opsbook runbook run`" if row.status in rows.FINAL
                                 else alive)
    if row.dry_run:
        raise RunbookRunConflict(f"run {run_id} was a dry-run: nothing to resume", hint="start a real run")
    w, steps = _walker(store, cfg, runbook, row, operator, params or {}, hooks, clock, kinds, yes)
    _hash_check(runbook, row, steps, force)
    waiting = row.waiting or {}
    if row.status == rows.WAITING and waiting.get("kind") in ("checklist", "approval"):
        expired = _expired(w, now)
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
            _lock(tx, runbook.lock, row, operator, now)
        moved = rows.move(tx, row, rows.RUNNING, now)
        if moved is None:
            raise _moved(tx, run_id)
    w.run = moved
    return _go(w, _completed(runbook, steps))


def rollback(store: Store, cfg: Config, runbook: Runbook, run_id: int, operator: str, *,
             params: Mapping[str, str] | None = None, hooks: Hooks | None = None,
             clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER,
             kinds: Registry[StepKind] | None = None) -> Record:
    """Run the rollback section of a run that is not running now."""
    now = clock()
    row = _load(store, run_id, now, stale_after)
    if row.status == rows.RUNNING or row.dry_run:
        raise RunbookRunConflict(f"run {run_id} is {'a dry-run' if row.dry_run else 'running'}: not rolled back",
                                 hint=f"abort it first: opsbook runbook abort {run_id}" if not row.dry_run else "")
    if not runbook.actions("rollback"):
        raise UsageError(f"runbook {runbook.name} has no ## Rollback section")
    w, _ = _walker(store, cfg, runbook, row, operator, params or {}, hooks, clock, kinds, True)
    with store.transaction() as tx:
        if runbook.lock:
            _lock(tx, runbook.lock, row, operator, now)
        moved = rows.move(tx, row, rows.RUNNING, now, current_step="rollback")
        if moved is None:
            raise _moved(tx, run_id)
    w.run = moved
    return _rolled_back(w, f"rollback requested by {operator}")


def _waiting_for(tx: Any, run_id: int, kind: str) -> rows.RunRow:
    row = _get(tx, run_id)
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
        w, _ = _walker(store, cfg, runbook, row, row.operator, {p.name: "" for p in runbook.params if p.secret},
                       None, clock, kinds, True)
        done = _expired(w, now)
        assert done is not None
        raise RunbookRunConflict(f"the approval of step {waiting.get('name')} expired at {waiting['expires_at']}: "
                                 f"run {run_id} is now {done.run.status}", hint="start a new run")
    with store.transaction() as tx:
        if rows.decide(tx, int(waiting["approval"]), "approved", operator, now, None) is None:
            raise RunbookRunConflict(f"the approval of step {waiting.get('name')} was decided already")
        moved = rows.move(tx, row, rows.WAITING, now, waiting={**waiting, "kind": "resume", "approved_by": operator})
        if moved is None:
            raise _moved(tx, run_id)
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
    w, _ = _walker(store, cfg, runbook, row, operator, {**secret_blanks, **(params or {})}, hooks, clock, kinds, True)
    with store.transaction() as tx:
        if rows.decide(tx, int(waiting["approval"]), "rejected", operator, now, reason or None) is None:
            raise RunbookRunConflict(f"the approval of step {waiting.get('name')} was decided already")
        moved = rows.move(tx, row, rows.RUNNING, now)
        if moved is None:
            raise _moved(tx, run_id)
    w.run = moved
    _instant(w, "main", int(waiting["index"]), str(waiting["name"]), "approval", reason or "rejected", "rejected",
             actor=operator, error=reason or None)
    why = f"rejected by {operator}" + (f": {reason}" if reason else "")
    if not runbook.actions("rollback"):
        return _finish(w, "aborted", why)
    return _rolled_back(w, why)


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
            raise _moved(tx, run_id)
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
    row = _load(store, run_id, now, stale_after)
    if row.status not in (rows.RUNNING, *RESUMABLE):
        raise RunbookRunConflict(f"run {run_id} is {row.status}: it has ended already")
    with store.transaction() as tx:
        moved = rows.move(tx, row, "aborted", now, error=f"aborted by {operator}" + (f": {reason}" if reason else ""))
        if moved is None:
            raise _moved(tx, run_id)
        for name in rows.locks_of(tx, run_id):
            rows.release(tx, name, run_id)
        if row.incident_id is not None:
            incident_rows.add_event(tx, row.incident_id, now, "runbook", operator,
                                    {"runbook": row.runbook, "run": run_id, "status": "aborted", "dry_run": False})
    return record(store, run_id)


# -- reading -------------------------------------------------------------------------------------


def record(store: Store, run_id: int) -> Record:
    with store.read() as tx:
        row = _get(tx, run_id)
        return Record(row, rows.steps(tx, run_id), rows.approvals(tx, run_id))


def runs(store: Store, *, runbook: str | None = None, statuses: tuple[str, ...] | None = None, limit: int = 100,
         clock: Callable[[], datetime] = utcnow, stale_after: float = one.STALE_AFTER) -> list[rows.RunRow]:
    """Runs newest first; a run whose runner died shows (and is marked) interrupted."""
    with store.transaction() as tx:
        rows.mark_stale(tx, clock(), stale_after)
        return rows.listing(tx, runbook, statuses, limit)
