"""``opsbook slo status`` and ``opsbook slo export prometheus``."""

from __future__ import annotations

import click

from .common import Ctx, at_option, common, err, out, parse_at


@click.group("slo")
def slo_group() -> None:
    """Service level objectives and error budgets."""


@slo_group.command("status")
@click.argument("names", nargs=-1)
@at_option
@common
def slo_status(ctx: Ctx, names: tuple[str, ...], at: str | None) -> int:
    """Per SLO: events, budget consumed/remaining with the formula, each burn tier. Exit 3 if an SLI is unreadable."""
    from rich.markup import escape

    from ..rules import slo

    cfg = ctx.config
    now = parse_at(at)
    with ctx.open_store(cfg) as store:
        rows = [slo.status_of(cfg, store, n, now) for n in (names or tuple(cfg.model.slos))]
    if ctx.json:
        ctx.emit({"schema": slo.SCHEMA, "at": now.isoformat(), "slos": [s.to_dict() for s in rows]})
    else:
        if not rows:
            out.print("no SLOs; add one under slos: (see docs/slos.md)")
        for s in rows:
            out.print(f"[bold]{escape(s.name)}[/]: objective {s.objective:.3%} over {s.window} · {escape(s.sli)}")
            if s.error:
                out.print(f"  [red]error[/]: {escape(s.error)}")
                continue
            e = s.events
            colour = "red" if s.consumed >= 1 else "yellow" if s.consumed >= 0.75 else "green"
            out.print(f"  events {e.total} ({e.total - e.bad} good, {e.bad} bad) · budget consumed "
                      f"[{colour}]{s.consumed:.1%}[/], remaining {s.remaining:.1%}")
            out.print(f"  {s.formula}", markup=False)
            for a, b in s.excluded:
                out.print(f"  excluded (maintenance): {a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M}", markup=False)
            for t in s.tiers:
                mark = "[red]FIRING[/]" if t.firing else "[green]ok[/]"
                out.print(f"  {t.name:>5} {t.severity:<6} {mark} {escape(t.describe())}")
    return 3 if any(s.error for s in rows) else 0


@slo_group.group("export")
def slo_export() -> None:
    """Write equivalent rules for other tools."""


@slo_export.command("prometheus")
@click.option("--out", "out_path", default=None, metavar="FILE", help="write the rules file here (default stdout)")
@common
def slo_export_prometheus(ctx: Ctx, out_path: str | None) -> int:
    """Prometheus recording and alerting rules for the prometheus: SLOs and alert rules."""
    from pathlib import Path

    from ..rules.export import prometheus_rules

    cfg = ctx.config
    text, skipped = prometheus_rules(cfg)
    if out_path:
        Path(out_path).write_text(text)
    if ctx.json:
        ctx.emit({"schema": "opsbook.slo-export/1", "format": "prometheus", "path": out_path,
                  "rules": text, "skipped": skipped})
    elif not out_path:
        click.echo(text, nl=False)
    else:
        out.print(f"wrote {out_path}", markup=False)
    for s in skipped:
        err.print(f"skipped: {s}", markup=False)
    return 0
