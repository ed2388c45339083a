"""``opsbook replay run|resume|status|list|show``: replay events to a webhook target and read the
record (ops/replay.py does the work; docs/replay.md).

Exit codes: 0 every event delivered (or a dry-run), 1 failures, a stop rule fired or a conflict,
2 bad input, 3 could not run (the source or the target unreachable)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from .common import Ctx, common
from .runbook_run import as_option, operator

if TYPE_CHECKING:
    from ..ops.replay import Report


@click.group("replay")
def replay_group() -> None:
    """Replay events (a query, JSONL files, a command) to a signed webhook target, resumably."""


def _time(text: str | None, flag: str) -> datetime | None:
    from ..errors import UsageError

    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time", hint="write it like 2026-03-01T00:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@contextmanager
def _progress(ctx: Ctx) -> Iterator[Callable[[dict[str, int]], None] | None]:
    """A live counter on a terminal (rich, on stderr); nothing when piped or with --json."""
    if ctx.json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # on stderr: stdout carries the report
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting")

        def update(counts: dict[str, int]) -> None:
            bar.update(task, description=f"delivered {counts.get('delivered', 0)}  failed {counts.get('failed', 0)}"
                                         f"  skipped {counts.get('skipped', 0)}")

        yield update


def _finish(ctx: Ctx, rep: Report) -> int:
    from ..render.replay import report_doc, summary

    parts = (rep.run, rep.counts, rep.failures, rep.rate, rep.samples, rep.dry_run)
    if ctx.json:
        ctx.emit(report_doc(*parts))
    else:
        ctx.console.print(summary(*parts), markup=False, highlight=False, soft_wrap=True)
    if rep.dry_run:
        return 0
    assert rep.run is not None
    return 0 if rep.run.status == "succeeded" else 1


@replay_group.command("run")
@click.argument("name")
@click.option("--since", default=None, metavar="TIME", help="events at or after this time (ISO 8601)")
@click.option("--until", default=None, metavar="TIME", help="events before this time (ISO 8601)")
@click.option("--dry-run", is_flag=True, help="count and sample what would be sent; send and record nothing")
@click.option("--limit", type=int, default=None, metavar="N", help="send at most the first N events")
@as_option
@common
def run_cmd(ctx: Ctx, name: str, since: str | None, until: str | None, dry_run: bool, limit: int | None,
            actor: str | None) -> int:
    """Replay the events of NAME between --since and --until; every outcome is recorded."""
    from ..ops import replay as ops

    cfg = ctx.config
    t0, t1 = _time(since, "--since"), _time(until, "--until")
    if dry_run:  # nothing is recorded: no store opened
        return _finish(ctx, ops.run(None, cfg, name, since=t0, until=t1, operator=operator(actor), dry_run=True,
                                    limit=limit))
    with ctx.open_store(cfg) as store, _progress(ctx) as progress:
        rep = ops.run(store, cfg, name, since=t0, until=t1, operator=operator(actor), limit=limit,
                      progress=progress)
    return _finish(ctx, rep)


@replay_group.command("resume")
@click.argument("run_id", type=int)
@click.option("--retry-failed", is_flag=True,
              help="then send once more each event whose latest outcome is failed (a target that recovered)")
@as_option
@common
def resume_cmd(ctx: Ctx, run_id: int, retry_failed: bool, actor: str | None) -> int:
    """Continue an interrupted, stopped or failed run after its cursor; nothing delivered is re-sent."""
    from ..ops import replay as ops

    cfg = ctx.config
    with ctx.open_store(cfg) as store, _progress(ctx) as progress:
        rep = ops.resume(store, cfg, run_id, operator(actor), progress=progress, retry_failed=retry_failed)
    return _finish(ctx, rep)


@replay_group.command("status")
@click.argument("run_id", type=int)
@common
def status_cmd(ctx: Ctx, run_id: int) -> int:
    """One line: the run's status and counts (exit 0 when it succeeded)."""
    from ..ops import replay as ops
    from ..render.replay import run_dict

    with ctx.open_store(ctx.config) as store:
        rep = ops.report(store, run_id, failures=0)
    assert rep.run is not None
    r = rep.run
    if ctx.json:
        ctx.emit(run_dict(r))
    else:
        ctx.console.print(f"replay run {r.id} ({r.name}): {r.status}; delivered {r.delivered}, failed {r.failed}, "
                          f"skipped {r.skipped}", markup=False, highlight=False)
    return 0 if r.status in ("succeeded", "running") else 1


@replay_group.command("show")
@click.argument("run_id", type=int)
@click.option("--failures", type=int, default=20, metavar="N", help="list at most N failed events (default 20)")
@common
def show_cmd(ctx: Ctx, run_id: int, failures: int) -> int:
    """The run's report: counts by status, failures with the target's answers, the rate achieved."""
    from ..ops import replay as ops

    with ctx.open_store(ctx.config) as store:
        rep = ops.report(store, run_id, failures=max(0, failures))
    _finish(ctx, rep)
    return 0


@replay_group.command("list")
@click.option("--name", default=None, help="only the runs of this replay")
@click.option("--limit", type=int, default=50, metavar="N", help="at most N runs, newest first")
@common
def list_cmd(ctx: Ctx, name: str | None, limit: int) -> int:
    """Replay runs, newest first."""
    from ..ops import replay as ops
    from ..render.replay import listing, run_dict

    with ctx.open_store(ctx.config) as store:
        found = ops.runs(store, name=name, limit=limit)
    if ctx.json:
        ctx.emit({"runs": [run_dict(r) for r in found]})
    else:
        ctx.console.print(listing(found), markup=False, highlight=False)
    return 0
