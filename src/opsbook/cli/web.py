"""`opsbook export grafana` and other commands of the web work."""

from __future__ import annotations

import click

from .common import Ctx, common, out


@click.group("export")
def export_group() -> None:
    """Write files for other tools (Grafana dashboards)."""


@export_group.command("grafana")
@click.option("--output", "-o", "output", default="-", show_default=True, metavar="FILE",
              help="where to write the dashboard JSON (- for stdout)")
@click.option("--job", default="opsbook", show_default=True, help="the Prometheus job label scraping /metrics")
@common
def export_grafana(ctx: Ctx, output: str, job: str) -> int:
    """Write a Grafana dashboard (JSON) over opsbook's /metrics: checks, probe timings, backups, drills,
    SLO budgets and alerts. Import it in Grafana (Dashboards > New > Import)."""
    import json
    from pathlib import Path

    from ..web.grafana import dashboard

    doc = dashboard(ctx.config.model.project, job)
    text = json.dumps(doc, indent=2) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
        if not ctx.json:
            out.print(f"wrote {output}: {len(doc['panels'])} panels; import it in Grafana")
    return 0
