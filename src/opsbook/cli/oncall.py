"""``opsbook oncall now|show|override``: who is on call, a schedule's shifts, taking a shift."""

from __future__ import annotations

from datetime import datetime, tzinfo

import click

from ..errors import UsageError
from .common import Ctx, at_option, common, me, out, parse_at, parse_seconds


@click.group("oncall")
def oncall_group() -> None:
    """On-call schedules: who is on call, the shifts ahead, overrides."""


def _local(t: str | datetime | None, tz: tzinfo) -> str:
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


class _OverrideGroup(click.Group):
    """`oncall override SCHEDULE --person ...` (the form from before `list`/`delete` existed) is
    `oncall override add SCHEDULE ...`: a first word that is not a subcommand goes to `add`."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                              list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["add", *args]
        return super().resolve_command(ctx, args)


@oncall_group.group("override", cls=_OverrideGroup)
def oncall_override_group() -> None:
    """Overrides: someone takes a schedule's shift (add, list, delete). `oncall override SCHEDULE
    --person NAME ...` is short for `oncall override add SCHEDULE ...`."""


@oncall_override_group.command("add")
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


@oncall_override_group.command("list")
@click.argument("schedule", required=False)
@click.option("--all", "show_all", is_flag=True, help="ended overrides too")
@common
def oncall_override_list(ctx: Ctx, schedule: str | None, show_all: bool) -> int:
    """Overrides of SCHEDULE (or every schedule) that have not ended yet (--all: every one)."""
    from datetime import UTC

    from rich.markup import escape

    from ..ops import oncall
    from ..render.table import columns_table

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        result = oncall.list_overrides(cfg, store, schedule, datetime.now(UTC), ended=show_all)
    if ctx.json:
        ctx.emit(result.to_dict())
        return 0
    if not result.overrides:
        out.print(f"no overrides{' for ' + escape(schedule) if schedule else ''}")
        return 0
    t = columns_table("id", "schedule", "person", "from (UTC)", "until (UTC)", "by", "reason")
    for o in result.overrides:
        t.add_row(o.id, escape(o.schedule), escape(o.person), _local(o.starts_at, UTC),
                  _local(o.ends_at, UTC), escape(o.created_by), escape(o.reason or "-"))
    out.print(t)
    return 0


@oncall_override_group.command("delete")
@click.argument("override_id")
@click.option("--by", "by", default=None, help="who removes it (default: $USER)")
@common
def oncall_override_delete(ctx: Ctx, override_id: str, by: str | None) -> int:
    """Remove an override (its shift goes back to the schedule's layers)."""
    from datetime import UTC

    from ..ops import oncall

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        gone = oncall.delete_override(store, override_id)
    if ctx.json:
        ctx.emit({"schema": oncall.OVERRIDE_DELETED_SCHEMA, "deleted": gone.to_dict(),
                  "by": by or me(), "at": datetime.now(UTC).isoformat()})
        return 0
    out.print(f"override {gone.id} deleted ({gone.person} on call for {gone.schedule})", markup=False)
    return 0
