"""The walk of a runbook run (ops/runbook.py starts and continues runs through it): each action
in order, a step rendered, confirmed, run with its retries, judged and recorded; checklist items
and approvals that make the run wait; the rollback; the compare-and-set moves of the run row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.secrets import REDACTED, redactor
from ..errors import OpsbookError, RunbookLocked, RunbookRunConflict, UsageError
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
class Walk:
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


def default_kinds() -> Registry[StepKind]:
    from ..runbooks.steps.registry import STEPS

    return STEPS


def take_lock(tx: Any, name: str, run: rows.RunRow, operator: str, now: datetime) -> None:
    held = rows.acquire(tx, name, run.id, operator, now)
    if held is not None:
        raise RunbookLocked(f"lock {name!r} is held by run {held.run_id} ({held.holder}, since "
                            f"{held.since.isoformat(timespec='seconds')})",
                            hint=f"wait for it (--wait-lock 10m), or see `opsbook runbook record {held.run_id}`")


def go(w: Walk, completed: set[int]) -> Record:
    """Walk the main section from the first action not completed, then end the run. Stopped by
    Ctrl-C (or a signal turned into an exception), the run is marked interrupted at once."""
    try:
        return _walk(w, completed)
    except (KeyboardInterrupt, SystemExit):
        with w.store.transaction() as tx:
            rows.mark_stale(tx, w.clock(), -1.0, w.run.id)  # any heartbeat is "older" than a second from now
        raise


def _walk(w: Walk, completed: set[int]) -> Record:
    with w.store.read() as tx:
        w.approvals = rows.approvals(tx, w.run.id)
    failed: str | None = None
    for idx, action in enumerate(w.runbook.actions("main")):
        if idx in completed:
            continue
        with w.store.transaction() as tx:  # still ours (nobody aborted it)? then it is on this step
            entered = rows.at_step(tx, w.run.id, action.name, w.clock(), version=w.run.version)
        if not entered:
            return record(w.store, w.run.id)
        verdict = _action(w, "main", idx, action, entered=True)
        if verdict in ("waiting", "aborted"):
            return record(w.store, w.run.id)
        if verdict == "failed":
            failed = failed or action.name
            if not w.dry_run:  # a dry-run goes on: it shows every step
                return rolled_back(w, f"step {action.name} failed")
    return finish(w, "failed", f"step {failed} failed") if failed else finish(w, "succeeded")


def _action(w: Walk, section: Section, idx: int, action: Action, *, entered: bool = False) -> str:
    """ok | failed | waiting | aborted for one action (``entered``: the walk marked the step already)."""
    if not entered:
        with w.store.transaction() as tx:
            rows.at_step(tx, w.run.id, action.name, w.clock())
    if isinstance(action, Checklist):
        return _checklist(w, section, idx, action)
    step = action
    kind = w.kinds.lookup(step.kind)
    if step.when is not None:
        try:
            proceed = one.condition(step.when, w.values)
        except OpsbookError as e:  # a malformed condition is the step's error, not a silent skip
            instant(w, section, idx, step.name, step.kind, f"when {step.when}", "error", error=e.message)
            return "ok" if step.continue_on_error else "failed"
        if not proceed:
            instant(w, section, idx, step.name, step.kind, f"when {step.when}", "skipped",
                    error=f"skipped: {step.when} is false")
            return "ok"
    needs_approval = kind.pauses or (step.confirm and w.run.environment in w.cfg.model.runbooks.require_approval)
    try:
        rendered = kind.render(step, w.values, w.secret_names, w.cfg)
    except OpsbookError as e:
        instant(w, section, idx, step.name, step.kind, step.body.strip(), "error", error=e.message)
        return "ok" if step.continue_on_error else "failed"
    if w.dry_run and (needs_approval or not rendered.read_only):
        instant(w, section, idx, step.name, step.kind, rendered.display, "dry_run", target=rendered.target,
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
        with one.heartbeat(w.store, w.run.id, w.clock):  # a person at the prompt is not a dead runner
            confirmed = w.hooks.confirm(step, rendered)
        if not confirmed:
            end(w, "aborted", error=f"{w.operator} declined step {step.name}")
            return "aborted"
    if kind.pauses:  # an approval step met outside the main walk (rollback): nobody is asked
        instant(w, section, idx, step.name, step.kind, rendered.display, "skipped",
                error="approvals are not waited for during a rollback")
        return "ok"
    ok = _execute(w, section, idx, step, kind, rendered)
    return "ok" if ok or step.continue_on_error else "failed"


def _execute(w: Walk, section: Section, idx: int, step: Step, kind: StepKind, rendered: Rendered) -> bool:
    """Run a step with its retries: one row per attempt. True when an attempt was ok."""
    timeout = step.timeout or w.cfg.model.runbooks.step_timeout
    for _ in range(step.retries + 1):
        row = instant(w, section, idx, step.name, step.kind, rendered.display, rows.RUNNING, target=rendered.target)
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


def instant(w: Walk, section: str, idx: int, name: str, kind: str, display: str, status: str, *,
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


def _checklist(w: Walk, section: Section, idx: int, item: Checklist) -> str:
    if w.dry_run:
        instant(w, section, idx, item.name, "checklist", item.text, "dry_run", error="to acknowledge")
        return "ok"
    if w.hooks.ack is not None:
        with one.heartbeat(w.store, w.run.id, w.clock):  # a person at the prompt is not a dead runner
            acked = w.hooks.ack(item)
        if acked:
            instant(w, section, idx, item.name, "checklist", item.text, "acked", actor=w.operator)
            return "ok"
        if section == "rollback":
            instant(w, section, idx, item.name, "checklist", item.text, "skipped", error="not acknowledged")
            return "ok"
    elif section == "rollback":  # a rollback does not stop to wait for anyone
        instant(w, section, idx, item.name, "checklist", item.text, "skipped",
                error="not acknowledged: a non-interactive rollback does not wait")
        return "ok"
    ttl = w.cfg.model.runbooks.checklist_timeout
    return _wait(w, {"kind": "checklist", "section": section, "index": idx, "name": item.name, "text": item.text,
                     "expires_at": _iso_in(w.clock(), ttl)})


def _iso_in(now: datetime, seconds: float) -> str:
    from datetime import timedelta

    return (now + timedelta(seconds=seconds)).isoformat()


def _approval(w: Walk, idx: int, step: Step) -> str:
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


def _wait(w: Walk, waiting: dict[str, Any]) -> str:
    end(w, rows.WAITING, waiting=waiting)
    return "waiting"


def end(w: Walk, status: str, *, waiting: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Move the run (compare-and-set); a final status gives the lock back."""
    with w.store.transaction() as tx:
        moved = rows.move(tx, w.run, status, w.clock(), waiting=waiting, error=error)
        if moved is None:
            raise conflict(tx, w.run.id)
        w.run = moved
        if status in rows.FINAL and w.runbook.lock:
            rows.release(tx, w.runbook.lock, w.run.id)
    if status in rows.FINAL:
        incident_event(w, status)
    if status == "succeeded" and not w.dry_run:  # a rotation runbook that succeeded records its rotation
        from .secrets import after_runbook

        after_runbook(w.cfg.model, w.store, w.runbook.name, w.run.environment or w.cfg.env, w.operator, w.run.id,
                      w.clock())


def conflict(tx: Any, run_id: int) -> RunbookRunConflict:
    now_row = rows.get_run(tx, run_id)
    return RunbookRunConflict(f"run {run_id} changed under this runner: it is {now_row.status if now_row else 'gone'}",
                              hint=f"`opsbook runbook record {run_id}` shows what happened")


def finish(w: Walk, status: str, error: str | None = None) -> Record:
    end(w, status, error=error)
    return record(w.store, w.run.id)


def rolled_back(w: Walk, why: str) -> Record:
    """Run the ``## Rollback`` section (when there is one) and end the run accordingly."""
    actions = w.runbook.actions("rollback")
    if not actions:
        return finish(w, "failed", why)
    with w.store.transaction() as tx:
        rows.at_step(tx, w.run.id, "rollback", w.clock())
    for idx, action in enumerate(actions):
        if _action(w, "rollback", idx, action) != "ok":
            return finish(w, "rollback_failed", f"{why}; the rollback failed at {action.name}")
    return finish(w, "rolled_back", why)


def incident_event(w: Walk, what: str) -> None:
    if w.run.incident_id is None:
        return
    detail = {"runbook": w.runbook.name, "run": w.run.id, "status": what, "dry_run": w.run.dry_run}
    with w.store.transaction() as tx:
        incident_rows.add_event(tx, w.run.incident_id, w.clock(), "runbook", w.operator, detail)


def get_run(tx: Any, run_id: int) -> rows.RunRow:
    row = rows.get_run(tx, run_id)
    if row is None:
        raise UsageError(f"no runbook run {run_id}", hint="`opsbook runbook runs` lists them")
    return row


def load_run(store: Store, run_id: int, now: datetime, stale_after: float) -> rows.RunRow:
    """The run, marked interrupted first when its runner stopped heartbeating."""
    with store.transaction() as tx:
        rows.mark_stale(tx, now, stale_after, run_id)
        return get_run(tx, run_id)


def walker(store: Store, cfg: Config, runbook: Runbook, row: rows.RunRow, operator: str, params: Mapping[str, str],
            hooks: Hooks | None, clock: Callable[[], datetime], kinds: Registry[StepKind] | None,
            yes: bool) -> tuple[Walk, list[rows.StepRow]]:
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
    for s in steps:  # a saved value that held a secret was recorded ***: it is not brought back
        if s.status == "ok" and s.captured:
            values.update({k: v for k, v in s.captured.items() if REDACTED not in v})
    w = Walk(store, cfg, runbook, row, values, secret_names, operator, hooks or Hooks(), clock,
              kinds or default_kinds(), yes)
    for s in steps:
        w.attempts[(s.section, s.index)] = max(w.attempts.get((s.section, s.index), 0), s.attempt)
    return w, steps


def completed_actions(runbook: Runbook, steps: list[rows.StepRow]) -> set[int]:
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


def hash_check(runbook: Runbook, row: rows.RunRow, steps: list[rows.StepRow], force: bool) -> None:
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


def expired(w: Walk, now: datetime) -> Record | None:
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
            raise conflict(tx, w.run.id)
        w.run = moved
    return rolled_back(w, f"{waiting.get('kind')} {waiting.get('name')} expired at {until}")


def record(store: Store, run_id: int) -> Record:
    with store.read() as tx:
        row = get_run(tx, run_id)
        return Record(row, rows.steps(tx, run_id), rows.approvals(tx, run_id))


