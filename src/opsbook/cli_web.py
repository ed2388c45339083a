"""`opsbook export grafana` and other commands of the web work."""

from __future__ import annotations

import click


@click.group("export")
def export_group() -> None:
    """Write files for other tools (Grafana dashboards)."""
