"""`opsbook alerts`, `opsbook slo`, `opsbook ping`, `opsbook gate budget` (rules work)."""

from __future__ import annotations

import click


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: evaluate them, see their state."""


@click.group("slo")
def slo_group() -> None:
    """Service level objectives and error budgets."""


# commands added to groups defined elsewhere (cli.py registers them: one line each)
EXTRA_COMMANDS: list[click.Command] = []  # top-level, e.g. `opsbook ping`
GATE_COMMANDS: list[click.Command] = []  # under `opsbook gate`, e.g. `gate budget`
