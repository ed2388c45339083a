"""``opsbook secrets list|audit|rotated|scan``: the secret inventory (``secrets:``), its
rotations, and committed secrets in files. Never a value (docs/secrets.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import Ctx, at_option, common, me, out, parse_at, when

if TYPE_CHECKING:
    from ..ops.secrets import Status


@click.group("secrets")
def secrets_group() -> None:
    """The secret inventory: where each secret is used, its rotations, what is overdue."""


def _table(statuses: list[Status]) -> None:
    from rich.markup import escape

    from ..durations import format_duration
    from ..render.table import columns_table

    t = columns_table("secret", "env", "owner", "every", "last rotation", "due", "references")
    for s in statuses:
        last = f"{when(s.last.at)} ({s.last.via}, {s.last.by})" if s.last else "never"
        due = "[red]overdue[/]" if s.overdue else (when(s.due) if s.due else "-")
        if s.overdue and s.due:
            due = f"[red]overdue since {when(s.due)}[/]"
        every = format_duration(s.entry.rotate_every) if s.entry.rotate_every else "-"
        t.add_row(escape(s.name), s.env or "-", escape(s.entry.owner or "-"), every, escape(last), due,
                  escape(", ".join(s.references) or "-"))
    out.print(t)


@secrets_group.command("list")
@common
@at_option
def list_cmd(ctx: Ctx, at: str | None) -> int:
    """Every declared secret per environment: owner, rotation period, last rotation, due date."""
    from ..ops.secrets import statuses

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        rows = statuses(cfg.model, store, parse_at(at))
    if ctx.json:
        ctx.emit({"schema": "opsbook.secrets/1", "secrets": [s.to_dict() for s in rows]})
    else:
        _table(rows)
    return 0


@secrets_group.command("audit")
@common
@at_option
def audit_cmd(ctx: Ctx, at: str | None) -> int:
    """The inventory with what is wrong: overdue rotations, secrets the config references but
    does not declare, credentials written inline. Exit 1 when anything is."""
    from rich.markup import escape

    from ..ops.secrets import audit

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        a = audit(cfg.model, store, parse_at(at))
    if ctx.json:
        ctx.emit({"schema": "opsbook.secrets-audit/1", **a.to_dict()})
        return 1 if a.problems else 0
    _table(a.statuses)
    for s in a.statuses:
        if s.overdue:
            out.print(f"[red]✗[/] {escape(s.name)}{' in ' + s.env if s.env else ''}: rotation overdue"
                      + ("" if s.last else " (none recorded)"))
    for name, paths in sorted(a.undeclared.items()):
        out.print(f"[red]✗[/] {escape(name)} is referenced ({escape(', '.join(paths))}) "
                  "but not declared under secrets:")
    for path, msg in a.inline:
        out.print(f"[red]✗[/] {escape(path)}: {escape(msg)}")
    if not a.problems:
        out.print("[green]✓[/] no overdue rotation, undeclared or inline secret")
    return 1 if a.problems else 0


@secrets_group.command("rotated")
@common
@click.argument("name")
@click.option("--note", default="", help="what was done (never the value)")
@at_option
def rotated_cmd(ctx: Ctx, name: str, note: str, at: str | None) -> int:
    """Record that NAME was rotated in --env (who and when; never the value)."""
    from ..ops.secrets import rotated
    from .env import _config

    cfg = _config(ctx, ctx.env)
    with ctx.open_store(cfg) as store:
        row = rotated(cfg.model, store, name, ctx.env, me(), note, parse_at(at))
    if ctx.json:
        ctx.emit({"schema": "opsbook.secret-rotation/1", **row.to_dict()})
    else:
        out.print(f"recorded: {row.name}{' in ' + row.env if row.env else ''} rotated at {when(row.at)} by {row.by}")
    return 0


@secrets_group.command("scan")
@common
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def scan_cmd(ctx: Ctx, paths: tuple[str, ...]) -> int:
    """Find committed secrets in files with detect-secrets: file:line:type, never the secret.
    Exit 1 when any is found."""
    from ..ops.secret_scan import scan

    found = scan(list(paths))
    if ctx.json:
        ctx.emit({"schema": "opsbook.secrets-scan/1", "findings": [f.to_dict() for f in found]})
    else:
        for f in found:
            out.print(f"{f.file}:{f.line}: {f.type}", markup=False)
        out.print(f"{len(found)} finding(s)" if found else "no secrets found", markup=False)
    return 1 if found else 0
