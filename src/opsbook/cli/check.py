"""``opsbook check``, ``opsbook kinds`` and ``opsbook history``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import Ctx, common, err, out

if TYPE_CHECKING:
    from ..results import CheckResult


@click.command("check")
@click.argument("names", nargs=-1)
@click.option("--concurrency", type=click.IntRange(1, 10000), default=None,
              help="checks in flight at once (default: defaults.concurrency, 64)")
@click.option("--junit", "junit", default=None, metavar="FILE", help="also write JUnit XML")
@click.option("--no-store", is_flag=True, help="do not record results")
@common
def check_cmd(ctx: Ctx, names: tuple[str, ...], concurrency: int | None, junit: str | None,
              no_store: bool) -> int:
    """Run checks once (all, or NAMES and what they depend on). Exit 1 if any fails."""
    from ..ops import check
    from ..render.table import render_results, status_text

    cfg = ctx.config
    store = None if no_store else ctx.open_store(cfg)
    try:
        live = not ctx.json and err.is_terminal

        def progress(r: CheckResult) -> None:
            if live:
                err.print(f"  {status_text(r.status)} {r.name}", highlight=False)

        run = check.run(cfg, names, store=store, concurrency=concurrency, on_result=progress if live else None)
    finally:
        if store is not None:
            store.close()
    if junit:
        from pathlib import Path

        from ..render.junit import checks_to_junit

        Path(junit).write_text(checks_to_junit(run.results, suite=f"opsbook check ({cfg.env or 'default'})"))
    if ctx.json:
        ctx.emit(run.to_dict())
    else:
        render_results(out, run.results, title=f"opsbook check · env {cfg.env or 'default'}")
        for f in run.flips:
            if f.from_status is not None:
                out.print(f"[bold]flip:[/] {f.check} {f.from_status} → {f.to_status}")
    return run.exit_code


@click.command("kinds")
@common
def kinds_cmd(ctx: Ctx) -> int:
    """List the check kinds and what each observes."""
    from ..checks.registry import KINDS

    doc = {
        name: {"resources": list(k.resource_kinds), "default_expect": list(k.default_expect),
               "observations": dict(k.observations)}
        for name, k in KINDS.items()
    }
    if ctx.json:
        ctx.emit({"schema": "opsbook.kinds/1", "kinds": doc})
        return 0
    for name, k in KINDS.items():
        out.print(f"[bold]{name}[/] [dim](resources: {', '.join(k.resource_kinds) or '-'}; "
                  f"default expect: {', '.join(k.default_expect)})[/]")
        for obs, meaning in k.observations.items():
            out.print(f"  {obs:<18} {meaning}", markup=False)
    return 0


@click.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@common
def history_cmd(ctx: Ctx, name: str, limit: int) -> int:
    """Show a check's stored results and status flips, newest first."""
    from ..errors import UsageError
    from ..render.table import render_results

    cfg = ctx.config
    if name not in cfg.checks:
        raise UsageError(f"no check named {name!r}", hint=f"defined: {', '.join(cfg.checks)}")
    store = ctx.open_store(cfg)
    try:
        results = store.history(name, cfg.env or "", limit)
        flips = store.flips(name, limit)
    finally:
        store.close()
    if ctx.json:
        ctx.emit({"schema": "opsbook.history/1", "check": name, "env": cfg.env,
                  "results": [r.to_dict() for r in results], "flips": [f.to_dict() for f in flips]})
        return 0
    render_results(out, results, title=f"{name}: last {len(results)} results")
    for f in flips:
        out.print(f"{f.at:%Y-%m-%d %H:%M:%S} {f.from_status or '(new)'} → {f.to_status}  {f.summary}",
                  markup=False)
    return 0
