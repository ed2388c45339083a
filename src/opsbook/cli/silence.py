"""``opsbook silence add|list|expire``: mute matching alerts for a while."""

from __future__ import annotations

import click

from .common import Ctx, common, me, out, parse_seconds
from .common import when as _when


@click.group("silence")
def silence_group() -> None:
    """Silences: mute matching alerts for a while, with an author and a comment."""


@silence_group.command("add")
@click.option("--match", "matchers", multiple=True, required=True, metavar="LABEL=VALUE",
              help="a matcher: name=value, name!=value, name=~regex, name!~regex (repeatable; all must hold)")
@click.option("--duration", default="1h", show_default=True, help="how long, e.g. 30m, 2h, 1d")
@click.option("--comment", required=True, help="why (shown to whoever wonders why nothing pages)")
@click.option("--author", default=None, help="who (default: $USER)")
@click.option("--starts-in", "starts_in", default="0s", help="start later, e.g. 1h (default now)")
@common
def silence_add(ctx: Ctx, matchers: tuple[str, ...], duration: str, comment: str, author: str | None,
                starts_in: str) -> int:
    """Silence alerts matching every --match for --duration."""
    from datetime import timedelta

    from rich.markup import escape

    from ..notify import silences
    from ..results import utcnow

    seconds, later = parse_seconds(duration), parse_seconds(starts_in)
    now = utcnow()
    starts = now + timedelta(seconds=later)
    with ctx.open_store(ctx.config) as store:
        s = silences.add(store, list(matchers), author or me(), comment, starts,
                         starts + timedelta(seconds=seconds), now)
    if ctx.json:
        ctx.emit({"schema": "opsbook.silence/1", **s.to_dict(now)})
    else:
        out.print(f"silence {s.id} until {_when(s.ends_at)} UTC: {escape(' '.join(str(m) for m in s.matchers))}")
    return 0


@silence_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="include expired silences")
@common
def silence_list(ctx: Ctx, show_all: bool) -> int:
    """Active and pending silences (--all: expired ones too)."""
    from rich.markup import escape

    from ..notify import silences
    from ..render.table import columns_table
    from ..results import utcnow

    now = utcnow()
    with ctx.open_store(ctx.config) as store:
        items = silences.list_all(store, now, include_expired=show_all)
    if ctx.json:
        ctx.emit({"schema": "opsbook.silences/1", "silences": [s.to_dict(now) for s in items]})
        return 0
    if not items:
        out.print("no silences")
        return 0
    t = columns_table("id", "state", "matchers", "starts", "ends", "author", "comment")
    for s in items:
        t.add_row(s.id, s.state(now), escape(" ".join(str(m) for m in s.matchers)), _when(s.starts_at),
                  _when(s.ends_at), escape(s.author), escape(s.comment))
    out.print(t)
    return 0


@silence_group.command("expire")
@click.argument("silence_id")
@click.option("--by", "by", default=None, help="who (default: $USER)")
@common
def silence_expire(ctx: Ctx, silence_id: str, by: str | None) -> int:
    """End a silence now. SILENCE_ID may be a unique prefix."""
    from ..notify import silences
    from ..results import utcnow

    now = utcnow()
    with ctx.open_store(ctx.config) as store:
        s = silences.expire(store, silence_id, now, by or me())
    if ctx.json:
        ctx.emit({"schema": "opsbook.silence/1", **s.to_dict(now)})
    else:
        out.print(f"silence {s.id} expired at {_when(s.ends_at)} UTC")
    return 0
