"""``opsbook db REPORT RESOURCE``, ``db report``, ``db snapshots``, ``db cancel|terminate``: PostgreSQL
diagnostics (read-only) and guarded remediation (confirmed, audited)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, me, out, parse_seconds

if TYPE_CHECKING:
    from ..dbdiag.base import Options

REPORT_HELP = {
    "connections": "Sessions by state, application, user and client; idle in transaction; waiting on locks.",
    "activity": "Queries running longer than --longer-than (default 5s), longest first.",
    "locks": "The blocking tree: who blocks whom, since when, running what.",
    "slow": "pg_stat_statements: top queries by total and by mean time (or how to enable it).",
    "indexes": "Unused, duplicate and invalid indexes.",
    "tables": "Largest tables with bloat estimate, dead tuples, last vacuum/analyze; seq scans on big tables.",
    "cache": "Buffer cache hit ratios of tables, indexes and the database.",
    "replication": "Replica lag and replication slots (WAL they retain).",
    "vacuum": "Transaction id wraparound distance per database and for the oldest tables.",
}


@click.group("db")
def db_group() -> None:
    """PostgreSQL diagnostics (read-only reports) and guarded cancel/terminate of sessions."""


def _options(limit: int, longer_than: str, timeout: str) -> Options:
    from ..dbdiag.base import Options

    return Options(limit=limit, longer_than=parse_seconds(longer_than), timeout_ms=int(parse_seconds(timeout) * 1000))


def _report_options(fn: Any) -> Any:
    fn = click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500),
                      help="rows per list")(fn)
    fn = click.option("--longer-than", default="5s", show_default=True, metavar="DURATION",
                      help="activity: queries running longer than this")(fn)
    return click.option("--timeout", default="5s", show_default=True, metavar="DURATION",
                        help="statement timeout of each report")(fn)


def _one(name: str) -> click.Command:
    @click.argument("resource")
    @_report_options
    @common
    def command(ctx: Ctx, resource: str, limit: int, longer_than: str, timeout: str) -> int:
        from ..ops import db

        doc = db.collect(ctx.config, resource, [name], _options(limit, longer_than, timeout))
        rep = doc["reports"][name]
        if ctx.json:
            ctx.emit({**rep, "resource": resource, "taken_at": doc["taken_at"]})
        else:
            from ..render.db import print_report

            print_report(out, name, rep)
        return 0 if rep["status"] == "ok" else 3

    command.__doc__ = REPORT_HELP[name]
    return click.command(name)(command)


for _name in REPORT_HELP:
    db_group.add_command(_one(_name))


@db_group.command("report")
@click.argument("resource")
@click.option("--out", "out_file", default=None, metavar="FILE", help="write the Markdown page here (default: stdout)")
@click.option("--record", is_flag=True, help="store the report as a snapshot (an incident timeline links it)")
@click.option("--snapshot", "snapshot_id", type=int, default=None, metavar="ID",
              help="render a stored snapshot instead of querying the database")
@_report_options
@common
def db_report(ctx: Ctx, resource: str, out_file: str | None, record: bool, snapshot_id: int | None, limit: int,
              longer_than: str, timeout: str) -> int:
    """Every report as one Markdown page (or one JSON document with --json)."""
    from ..dbdiag import REPORTS
    from ..ops import db
    from ..render.db import markdown
    from ..results import utcnow

    cfg = ctx.config
    if snapshot_id is not None:
        with ctx.open_store(cfg) as store:
            doc = db.get_snapshot(store, snapshot_id).doc or {}
    else:
        doc = db.collect(cfg, resource, list(REPORTS), _options(limit, longer_than, timeout))
        if record:
            with ctx.open_store(cfg) as store:
                doc["snapshot"] = db.record(store, cfg, doc, me(), utcnow())
            ctx.console.print(f"recorded db snapshot {doc['snapshot']}")
    if ctx.json:
        ctx.emit(doc)
        return 0
    text = markdown(doc)
    if out_file:
        from pathlib import Path

        Path(out_file).write_text(text, encoding="utf-8")
        out.print(f"wrote {out_file}", markup=False)
    else:
        click.echo(text, nl=False)
    return 0


@db_group.command("snapshots")
@click.argument("resource", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@common
def db_snapshots(ctx: Ctx, resource: str | None, limit: int) -> int:
    """Stored snapshots, newest first (`opsbook db report RESOURCE --snapshot ID` shows one)."""
    from rich.markup import escape

    from ..ops import db
    from ..render.table import columns_table
    from .common import when

    with ctx.open_store(ctx.config) as store:
        items = db.list_snapshots(store, resource, limit)
    if ctx.json:
        ctx.emit({"schema": "opsbook.db-snapshots/1", "snapshots": [s.to_dict() for s in items]})
        return 0
    t = columns_table("id", "taken at (UTC)", "resource", "by", "summary")
    for s in items:
        t.add_row(str(s.id), when(s.taken_at), escape(s.resource), escape(s.taken_by), escape(s.summary))
    out.print(t)
    return 0


def _remediate(ctx: Ctx, action: str, resource: str, pid: int | None, idle: str | None, reason: str, yes: bool,
               force: bool, actor: str | None) -> int:
    import asyncio

    from ..errors import UsageError
    from ..ops import db
    from ..render.db import print_plan
    from ..results import utcnow

    if not reason.strip():
        raise UsageError("--reason must say why", hint='e.g. --reason "INC-42: idle transactions hold locks"')
    cfg = ctx.config
    res = db.resource(cfg, resource)
    plan = asyncio.run(db.aplan(res, resource, action, pid=pid, force=force,
                                idle_longer_than=parse_seconds(idle) if idle else None))
    print_plan(ctx.console, plan.to_dict())
    if not plan.hits:
        if ctx.json:
            ctx.emit(plan.to_dict())
        ctx.console.print("nothing to do" if not plan.sessions else "every matching session is spared")
        return 0 if not plan.sessions else 1
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to {action} without --yes: stdin is not a terminal to confirm on",
                             hint="check the list above, then rerun with --yes")
        if not click.confirm(f"{action} {len(plan.hits)} session(s)?", default=False, err=True):
            ctx.console.print("nothing done")
            return 1
    asyncio.run(db.aexecute(res, plan))
    with ctx.open_store(cfg) as store:
        db.audit(store, plan, actor=actor or me(), role="cli", reason=reason, now=utcnow())
    if ctx.json:
        ctx.emit({**plan.to_dict(), "reason": reason, "outcome": db.outcome(plan)})
    else:
        print_plan(out, plan.to_dict())
    return 0 if db.outcome(plan) == "ok" else 1


_reason = click.option("--reason", required=True, help="why (recorded in the audit log)")
_yes = click.option("--yes", "-y", is_flag=True, help="do not ask (needed when stdin is not a terminal)")
_force = click.option("--force", is_flag=True, help="also hit superuser, replication and other opsbook sessions")
_as = click.option("--as", "actor", default=None, metavar="NAME", help="who is acting (default: $USER)")


@db_group.command("cancel")
@click.argument("resource")
@click.argument("pid", type=int)
@_reason
@_yes
@_force
@_as
@common
def db_cancel(ctx: Ctx, resource: str, pid: int, reason: str, yes: bool, force: bool, actor: str | None) -> int:
    """Cancel the query a session runs (pg_cancel_backend); the session stays."""
    return _remediate(ctx, "cancel", resource, pid, None, reason, yes, force, actor)


@db_group.command("terminate")
@click.argument("resource")
@click.argument("pid", type=int, required=False)
@click.option("--idle-in-transaction-longer-than", "idle", default=None, metavar="DURATION",
              help="every session idle in a transaction for longer than this, e.g. 10m")
@_reason
@_yes
@_force
@_as
@common
def db_terminate(ctx: Ctx, resource: str, pid: int | None, idle: str | None, reason: str, yes: bool, force: bool,
                 actor: str | None) -> int:
    """End a session (pg_terminate_backend): one PID, or every session idle in a transaction too long."""
    return _remediate(ctx, "terminate", resource, pid, idle, reason, yes, force, actor)
