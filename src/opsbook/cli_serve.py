"""`opsbook serve`: the daemon (daemon work)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
