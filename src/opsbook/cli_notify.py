"""`opsbook notify`, `opsbook silence` and `opsbook alerts ack` (notify work)."""

from __future__ import annotations

import click


@click.group("notify")
def notify_group() -> None:
    """Notifications: receivers, the outbox."""


@click.group("silence")
def silence_group() -> None:
    """Silences: mute matching alerts for a while, with an author and a comment."""


ALERTS_COMMANDS: list[click.Command] = []  # under `opsbook alerts`, e.g. `alerts ack`
