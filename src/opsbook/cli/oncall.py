"""``opsbook oncall now|show|override``: who is on call, a schedule's shifts, taking a shift."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .common import Ctx, at_option, common, me, out, parse_at, parse_seconds

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


@click.group("oncall")
def oncall_group() -> None:
    """On-call schedules: who is on call, the shifts ahead, overrides."""


def _local(t: str | datetime | None, tz: ZoneInfo) -> str:
    if t is None:
        return "-"
    d = datetime.fromisoformat(t) if isinstance(t, str) else t
    return d.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_group.command("now")
@click.argument("schedule", required=False)
@at_option
@common
def oncall_now(ctx: Ctx, schedule: str | None, at: str | None) -> int:
    """Who is on call in each schedule (or SCHEDULE) now, or --at a time, with since and until."""
    from zoneinfo import ZoneInfo

    from rich.markup import escape

    from ..ops import oncall

    cfg = ctx.config
    when = parse_at(at)
    with ctx.open_store(cfg) as store:
        result = oncall.now(cfg, store, when, schedule)
    doc = result.to_dict(cfg)
    if ctx.json:
        ctx.emit(doc)
        return 0
    if not doc["schedules"]:
        out.print("no on-call schedules (define them under oncall:)")
    for s in doc["schedules"]:
        tz = ZoneInfo(s["timezone"])
        if s["person"] is None:
            nxt = s["next"]
            then = f"; next: {escape(nxt['person']['display'])} from {_local(nxt['start'], tz)}" if nxt else ""
            out.print(f"{escape(s['schedule'])}: nobody on call{then}")
            continue
        out.print(f"{escape(s['schedule'])}: {escape(s['person']['display'])} since {_local(s['since'], tz)} "
                  f"until {_local(s['until'], tz)} ({s['source']})")
    return 0


@oncall_group.command("show")
@click.argument("schedule")
@click.option("--days", default=14.0, show_default=True, type=float, help="how many days of shifts")
@click.option("--from", "start", default=None, metavar="TIME", help="start here (ISO 8601; default now)")
@common
def oncall_show(ctx: Ctx, schedule: str, days: float, start: str | None) -> int:
    """The shifts of SCHEDULE for the next --days days, in the schedule's timezone."""
    from zoneinfo import ZoneInfo

    from rich.markup import escape
    from rich.table import Table

    from ..ops import oncall

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        result = oncall.show(cfg, store, schedule, parse_at(start), days)
    doc = result.to_dict(cfg)
    if ctx.json:
        ctx.emit(doc)
        return 0
    tz = ZoneInfo(result.timezone)
    if not result.shifts:
        out.print(f"{escape(schedule)}: nobody on call in these {days:g} days")
        return 0
    t = Table(header_style="bold", title=f"{escape(schedule)} ({result.timezone})")
    for col in ("from", "until", "who", "source"):
        t.add_column(col)
    for s in doc["shifts"]:
        t.add_row(_local(s["start"], tz), _local(s["end"], tz), escape(s["display"]), s["source"])
    out.print(t)
    return 0


@oncall_group.command("override")
@click.argument("schedule")
@click.option("--person", required=True, help="who takes the shift (a name from people:)")
@click.option("--from", "start", default=None, metavar="TIME", help="start (ISO 8601; default now)")
@click.option("--to", "end", default=None, metavar="TIME", help="end (ISO 8601)")
@click.option("--for", "length", default=None, metavar="DURATION", help="or how long, e.g. 4h")
@click.option("--reason", default="", help="why (shown with the override)")
@click.option("--by", "by", default=None, help="who records it (default: $USER)")
@common
def oncall_override(ctx: Ctx, schedule: str, person: str, start: str | None, end: str | None,
                    length: str | None, reason: str, by: str | None) -> int:
    """Put --person on call for SCHEDULE from --from to --to (or --for); it wins over every layer."""
    from datetime import UTC, timedelta
    from zoneinfo import ZoneInfo

    from ..ops import oncall

    if (end is None) == (length is None):
        raise UsageError("give --to TIME or --for DURATION (one of them)", hint="e.g. --for 4h")
    now = datetime.now(UTC)
    starts = parse_at(start) if start else now
    ends = parse_at(end) if end else starts + timedelta(seconds=parse_seconds(length or ""))
    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        result = oncall.override(cfg, store, schedule, person, starts, ends, by or me(), reason, now)
    if ctx.json:
        ctx.emit(result.to_dict())
        return 0
    tz = ZoneInfo(oncall.schedule_of(cfg, schedule).timezone)
    o = result.override
    out.print(f"override {o.id}: {person} on call for {schedule} from {_local(o.starts_at, tz)} "
              f"until {_local(o.ends_at, tz)}", markup=False)
    return 0
