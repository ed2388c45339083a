"""Entry points the CLI and the daemon call after rule evaluation.

    process(cfg, store, alerts, now)   -> route/group/silence/inhibit; enqueue outbox rows
    deliver_due(cfg, store, now)       -> send the outbox rows that are due; retries, receipts

Placeholder signatures: the notify work fills them in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.load import Config
from ..rules.model import AlertInstance
from ..store.store import Store


def process(cfg: Config, store: Store, alerts: list[AlertInstance], now: datetime) -> dict[str, Any]:
    """Route and group these alerts (every non-inactive alert the rules layer knows of, including
    ones that just resolved) and enqueue the notifications that are due. Returns a summary."""
    return {"enqueued": 0}


def deliver_due(cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
    """Deliver outbox rows whose next attempt is due. Returns a summary."""
    return {"delivered": 0, "failed": 0}
