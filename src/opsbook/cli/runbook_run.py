"""``opsbook runbook run|resume|approve|reject|abort|ack|rollback|record|runs``: running a
runbook and reading its record (ops/runbook.py does the work). Attached to the ``runbook`` group
in cli/runbook.py.

Exit codes: 0 succeeded (or a dry-run whose read-only steps passed), 1 failed / rolled back /
aborted / refused (a held lock, an approval by the runner), 2 bad input, 3 could not run,
4 the run waits (a checklist item, an approval or a confirmation) and the message says how to
continue it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, me, out, parse_seconds

if TYPE_CHECKING:
    from ..ops.runbook import Hooks, Record
    from ..runbooks.model import Runbook

EXIT_WAITING = 4

as_option = click.option("--as", "actor", default=None, metavar="NAME",
                         help="who is acting (default: $OPSBOOK_OPERATOR, else the OS user)")
param_option = click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
                            help="a runbook parameter (repeatable)")


def operator(actor: str | None) -> str:
    """--as NAME, else $OPSBOOK_OPERATOR, else the OS user (as incident commands pick it)."""
    return actor or os.environ.get("OPSBOOK_OPERATOR") or me()


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    from ..errors import UsageError

    got: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-p {pair!r} is not KEY=VALUE", hint="e.g. -p version=1.4.2")
        got[key.strip()] = value
    return got


def _interactive(ctx: Ctx) -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and not ctx.json


def _hooks(ctx: Ctx) -> Hooks:
    """Progress lines always; in a terminal also the live output and the prompts."""
    from ..ops.runbook import Hooks
    from ..render.runbook import progress

    console = ctx.console

    def on_step(row: Any) -> None:
        console.print(progress(row), markup=False, highlight=False, soft_wrap=True)

    if not _interactive(ctx):
        return Hooks(on_step=on_step)

    def emit(chunk: bytes) -> None:
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    def confirm(step: Any, rendered: Any) -> bool:
        return click.confirm(f"run step {step.name} on {rendered.target}?\n{rendered.display}\n", default=False)

    def ack(item: Any) -> bool:
        return click.confirm(f"[ ] {item.text}\n    done?", default=False)

    return Hooks(confirm=confirm, ack=ack, emit=emit, on_step=on_step)


def _finish(ctx: Ctx, rec: Record) -> int:
    from ..render.runbook import summary, to_json

    if ctx.json:
        ctx.emit(to_json(rec.run, rec.steps, rec.approvals))
    else:
        ctx.console.print(summary(rec.run), markup=False, soft_wrap=True)
    status = rec.run.status
    if status == "succeeded":
        return 0
    return EXIT_WAITING if status == "waiting" else 1


def _runbook_of(ctx: Ctx, store: Any, run_id: int) -> Runbook:
    """The runbook a run ran, from the config of the environment it ran in (its steps'
    resources and values are that environment's)."""
    from ..errors import UsageError
    from ..ops import runbook as ops
    from ..runbooks.load import find

    run = ops.record(store, run_id).run
    if run.environment and ctx.config.env != run.environment:
        raise UsageError(f"run {run_id} runs in environment {run.environment}, not {ctx.config.env or '(none)'}",
                         hint=f"add --env {run.environment}")
    return find(ctx.config, run.runbook)


@click.command("run")
@click.argument("name")
@param_option
@click.option("--dry-run", is_flag=True, help="render every step; run only the read-only ones")
@click.option("--yes", "-y", is_flag=True, help="confirm confirm=true steps without asking")
@click.option("--incident", "incident_id", type=int, default=None, metavar="ID",
              help="put the run on this incident's timeline")
@click.option("--wait-lock", default=None, metavar="DURATION", help="wait this long for the runbook's lock")
@as_option
@common
def run_cmd(ctx: Ctx, name: str, params: tuple[str, ...], dry_run: bool, yes: bool, incident_id: int | None,
            wait_lock: str | None, actor: str | None) -> int:
    """Run a runbook: every step recorded; a failure runs its rollback."""
    from ..ops import runbook as ops
    from ..runbooks.load import find

    cfg = ctx.config
    book = find(cfg, name)
    given = _params(params)
    wait = parse_seconds(wait_lock) if wait_lock else 0.0
    with ctx.open_store(cfg) as store:
        rec = ops.run(store, cfg, book, given, operator(actor), environment=cfg.env, dry_run=dry_run, yes=yes,
                      incident_id=incident_id, hooks=_hooks(ctx), wait_lock=wait)
    return _finish(ctx, rec)


@click.command("resume")
@click.argument("run_id", type=int)
@param_option
@click.option("--yes", "-y", is_flag=True, help="confirm confirm=true steps without asking")
@click.option("--force", is_flag=True, help="resume even though the runbook's text changed since the run started")
@as_option
@common
def resume_cmd(ctx: Ctx, run_id: int, params: tuple[str, ...], yes: bool, force: bool, actor: str | None) -> int:
    """Continue a failed, interrupted or waiting run at its first step not completed."""
    from ..ops import runbook as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        book = _runbook_of(ctx, store, run_id)
        rec = ops.resume(store, cfg, book, run_id, operator(actor), params=_params(params), force=force, yes=yes,
                         hooks=_hooks(ctx))
    return _finish(ctx, rec)


@click.command("approve")
@click.argument("run_id", type=int)
@click.option("--step", default=None, metavar="NAME", help="the step approved (refused if the run waits on another)")
@as_option
@common
def approve_cmd(ctx: Ctx, run_id: int, step: str | None, actor: str | None) -> int:
    """Approve the step a run waits on (not by the operator who started it)."""
    from ..ops import runbook as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        book = _runbook_of(ctx, store, run_id)
        rec = ops.approve(store, cfg, book, run_id, operator(actor), step=step)
    return _decided(ctx, rec, f"approved: continue with `opsbook runbook resume {run_id}`")


@click.command("reject")
@click.argument("run_id", type=int)
@click.option("--reason", default="", help="why (kept in the record)")
@param_option
@as_option
@common
def reject_cmd(ctx: Ctx, run_id: int, reason: str, params: tuple[str, ...], actor: str | None) -> int:
    """Reject the step a run waits on: the run is aborted and its rollback runs."""
    from ..ops import runbook as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        book = _runbook_of(ctx, store, run_id)
        rec = ops.reject(store, cfg, book, run_id, operator(actor), reason=reason, params=_params(params),
                         hooks=_hooks(ctx))
    _finish(ctx, rec)
    return 0


@click.command("ack")
@click.argument("run_id", type=int)
@click.option("--item", default=None, metavar="N", help="the item acknowledged (its number or check-N name)")
@as_option
@common
def ack_cmd(ctx: Ctx, run_id: int, item: str | None, actor: str | None) -> int:
    """Acknowledge the checklist item a run waits on."""
    from ..ops import runbook as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        book = _runbook_of(ctx, store, run_id)
        rec = ops.ack(store, book, run_id, operator(actor), item=item)
    return _decided(ctx, rec, f"acknowledged: continue with `opsbook runbook resume {run_id}`")


def _decided(ctx: Ctx, rec: Record, text: str) -> int:
    from ..render.runbook import to_json

    if ctx.json:
        ctx.emit(to_json(rec.run, rec.steps, rec.approvals))
    else:
        ctx.console.print(text, markup=False)
    return 0


@click.command("abort")
@click.argument("run_id", type=int)
@click.option("--reason", default="", help="why (kept in the record)")
@as_option
@common
def abort_cmd(ctx: Ctx, run_id: int, reason: str, actor: str | None) -> int:
    """Stop a run where it is (no rollback; `runbook rollback RUN` runs it)."""
    from ..ops import runbook as ops

    with ctx.open_store(ctx.config) as store:
        rec = ops.abort(store, run_id, operator(actor), reason=reason)
    _finish(ctx, rec)
    return 0


@click.command("rollback")
@click.argument("run_id", type=int)
@param_option
@as_option
@common
def rollback_cmd(ctx: Ctx, run_id: int, params: tuple[str, ...], actor: str | None) -> int:
    """Run a run's ## Rollback section now."""
    from ..ops import runbook as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        book = _runbook_of(ctx, store, run_id)
        rec = ops.rollback(store, cfg, book, run_id, operator(actor), params=_params(params), hooks=_hooks(ctx))
    _finish(ctx, rec)
    return 0 if rec.run.status == "rolled_back" else 1


@click.command("record")
@click.argument("run_id", type=int)
@click.option("--md", "markdown", is_flag=True, help="Markdown to attach to a ticket (the default on a terminal too)")
@common
def record_cmd(ctx: Ctx, run_id: int, markdown: bool) -> int:
    """A run's record: every step, its output, acknowledgements, approvals and the rollback."""
    from ..ops import runbook as ops
    from ..render.runbook import to_json, to_markdown

    with ctx.open_store(ctx.config) as store:
        rec = ops.record(store, run_id)
    if ctx.json:
        ctx.emit(to_json(rec.run, rec.steps, rec.approvals))
    else:
        click.echo(to_markdown(rec.run, rec.steps, rec.approvals), nl=False)
    return 0


@click.command("runs")
@click.argument("name", required=False)
@click.option("--status", "statuses", multiple=True, metavar="STATUS", help="only runs in this status (repeatable)")
@click.option("--limit", default=50, show_default=True, help="how many, newest first")
@common
def runs_cmd(ctx: Ctx, name: str | None, statuses: tuple[str, ...], limit: int) -> int:
    """Runs of every runbook (or one), newest first; a run whose runner died shows interrupted."""
    from ..ops import runbook as ops
    from ..render.runbook import run_dict
    from ..render.table import columns_table

    with ctx.open_store(ctx.config) as store:
        found = ops.runs(store, runbook=name, statuses=statuses or None, limit=limit)
    if ctx.json:
        ctx.emit({"schema": "opsbook.runbook_runs/1", "runs": [run_dict(r) for r in found]})
        return 0
    if not found:
        out.print("no runbook runs")
        return 0
    t = columns_table("run", "runbook", "status", "step", "operator", "env", "started (UTC)")
    for r in found:
        t.add_row(str(r.id), r.runbook, r.status + (" (dry-run)" if r.dry_run else ""), r.current_step or "-",
                  r.operator, r.environment or "-", r.started_at.strftime("%Y-%m-%d %H:%M:%S"))
    out.print(t)
    return 0


COMMANDS = (run_cmd, resume_cmd, approve_cmd, reject_cmd, abort_cmd, ack_cmd, rollback_cmd, record_cmd, runs_cmd)
