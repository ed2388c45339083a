"""``opsbook runbook due``: scheduled runbooks whose occurrence is due or overdue, with the last
completion and who did it. Attached to the ``runbook`` group in cli/runbook.py."""

from __future__ import annotations

import click

from .common import Ctx, common, out


@click.command("due")
@click.option("--all", "everything", is_flag=True, help="every scheduled runbook, also those not due yet")
@common
def due_cmd(ctx: Ctx, everything: bool) -> int:
    """Scheduled runbooks that are due or overdue: when, how late, last completed by whom."""
    from datetime import UTC, datetime

    from rich.markup import escape

    from ..durations import format_duration
    from ..ops.runbook_due import due
    from ..render.table import columns_table

    cfg = ctx.config
    now = datetime.now(UTC)
    with ctx.open_store(cfg) as store:
        found = due(store, cfg, now, everything=everything)
    if ctx.json:
        ctx.emit({"schema": "opsbook.runbook-due/1", "now": now.isoformat(), "tasks": [t.to_dict(now) for t in found]})
        return 0
    if not found:
        out.print("no runbook is due" + ("" if everything else " (--all lists every scheduled runbook)"))
        return 0
    t = columns_table("runbook", "kind", "state", "due (UTC)", "late", "last completed", "by", "in progress")
    for task in found:
        last = task.last
        style = {"overdue": "red", "due": "yellow"}.get(task.state, "green")
        t.add_row(escape(task.runbook), "routine" if task.routine else "task", f"[{style}]{task.state}[/]",
                  task.due_at.strftime("%Y-%m-%d %H:%M") if task.due_at else "-",
                  "-" if task.state == "ok" else format_duration(round(task.late_by(now) / 60) * 60)
                  if task.late_by(now) >= 60 else "<1m",
                  (last.ended_at or last.started_at).strftime("%Y-%m-%d %H:%M") if last else "never",
                  escape(last.operator) if last else "-",
                  f"run {task.open.id} {task.open.status}" if task.open else "-")
    out.print(t)
    return 0
