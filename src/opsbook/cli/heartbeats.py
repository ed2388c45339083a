"""``opsbook ping`` and ``opsbook heartbeats status``: pings from workers and cron jobs outside opsbook."""

from __future__ import annotations

import click

from .common import Ctx, at_option, common, out, parse_at


@click.command("ping")
@click.argument("name")
@click.argument("signal", required=False, default="success", type=click.Choice(["start", "success", "fail"]))
@click.option("--body", default="", help="text kept with the ping (a log tail, an exit code)")
@common
def ping_cmd(ctx: Ctx, name: str, signal: str, body: str) -> int:
    """Record a heartbeat ping: start, success (default) or fail. Exit 2 for an unknown heartbeat."""
    from ..results import utcnow
    from ..rules.heartbeats import record_ping

    cfg = ctx.config
    now = utcnow()
    with ctx.open_store(cfg) as store:
        record_ping(store, name, signal, now, body, cfg=cfg)
    if ctx.json:
        ctx.emit({"schema": "opsbook.ping/1", "ok": True, "name": name, "signal": signal, "at": now.isoformat()})
    else:
        out.print(f"{name}: {signal} recorded at {now:%Y-%m-%d %H:%M:%S}", markup=False)
    return 0


@click.group("heartbeats")
def heartbeats_group() -> None:
    """Heartbeats: pings from workers and cron jobs outside opsbook."""


@heartbeats_group.command("status")
@at_option
@common
def heartbeats_status(ctx: Ctx, at: str | None) -> int:
    """Each heartbeat: new, up, late, down or failed. Exit 1 if any is down or failed."""
    from rich.markup import escape
    from rich.table import Table

    from ..rules.heartbeats import status

    cfg = ctx.config
    now = parse_at(at)
    with ctx.open_store(cfg) as store:
        rows = status(cfg, store, now)
    bad = [r for r in rows if r.status in ("down", "failed")]
    if ctx.json:
        ctx.emit({"schema": "opsbook.heartbeats/1", "at": now.isoformat(), "heartbeats": [r.to_dict() for r in rows]})
    else:
        t = Table(title="heartbeats", header_style="bold")
        for col in ("name", "status", "last ping", "due", "reason"):
            t.add_column(col)
        for r in rows:
            t.add_row(escape(r.name), r.status, f"{r.last_ping_at:%Y-%m-%d %H:%M:%S}" if r.last_ping_at else "-",
                      f"{r.due_at:%Y-%m-%d %H:%M:%S}" if r.due_at else "-", escape(r.reason))
        out.print(t)
    return 1 if bad else 0
