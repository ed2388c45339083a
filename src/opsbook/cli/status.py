"""``opsbook status notice``: post, list and take down notices on the public status page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import Ctx, common, me, out, parse_seconds
from .common import when as _when

if TYPE_CHECKING:
    from ..ops.status_notice import Notice


@click.group("status")
def status_group() -> None:
    """The public status page: notices posted from the command line."""


def _line(n: Notice) -> str:
    r = n.row
    comps = ", ".join(f"{k}={v}" for k, v in r.components.items()) or "-"
    until = _when(r.expires_at) if r.expires_at else "until expired"
    return f"notice {r.id} [{r.status}] {r.message} (components: {comps}; posted {_when(r.at)}, {until})"


@status_group.command("notice")
@click.argument("message", required=False)
@click.option("--component", "components", multiple=True, metavar="NAME=IMPACT",
              help="a status page component it affects, IMPACT degraded or outage (repeatable)")
@click.option("--for", "for_", default=None, metavar="DURATION", help="take it down after DURATION, e.g. 2h")
@click.option("--id", "notice_id", type=int, default=None, help="the notice to expire (with --expire)")
@click.option("--expire", is_flag=True, help="take the notice --id down now")
@click.option("--list", "list_", is_flag=True, help="list the notices that are up")
@click.option("--as", "actor", default=None, metavar="NAME", help="who is posting (default: $USER)")
@common
def status_notice(ctx: Ctx, message: str | None, components: tuple[str, ...], for_: str | None,
                  notice_id: int | None, expire: bool, list_: bool, actor: str | None) -> int:
    """Post a notice on /status (or --list them, or --id N --expire one); no YAML edit, no reload."""
    from rich.markup import escape

    from ..errors import UsageError
    from ..ops import status_notice as notices
    from ..results import utcnow

    cfg = ctx.config
    now = utcnow()
    if expire or notice_id is not None:
        if not (expire and notice_id is not None) or message or components or for_ or list_:
            raise UsageError("--expire takes --id and nothing else", hint="opsbook status notice --id 4 --expire")
        with ctx.open_store(cfg) as store:
            done = notices.expire(store, notice_id, now)
        if ctx.json:
            ctx.emit({"schema": "opsbook.status-notice/1", **done.to_dict()})
        else:
            out.print(f"notice {notice_id} taken down")
        return 0
    if list_:
        if message or components or for_:
            raise UsageError("--list takes no message or options", hint="opsbook status notice --list")
        with ctx.open_store(cfg) as store:
            up = notices.active(store, now)
        if ctx.json:
            ctx.emit({"schema": "opsbook.status-notices/1", "notices": [n.to_dict() for n in up]})
        else:
            for n in up:
                out.print(escape(_line(n)))
            if not up:
                out.print("no notices are up (config notices: status_page.notices)")
        return 0
    if not message:
        raise UsageError("a notice needs a message", hint='opsbook status notice "Card payments are slow" --for 2h')
    seconds = parse_seconds(for_) if for_ else None
    notices.parse_components(cfg, components)  # a typo is exit 2 before the store is opened
    with ctx.open_store(cfg) as store:
        n = notices.post(store, cfg, message, actor or me(), now, components=components, for_seconds=seconds)
    if ctx.json:
        ctx.emit({"schema": "opsbook.status-notice/1", **n.to_dict()})
    else:
        out.print(escape(_line(n)))
    return 0
