"""Due tasks: the scheduled runbooks and the occurrence each owes (rules/runbook_due.py computes
it, from the cron and the last completed run); `opsbook runbook due`, the dashboard and the API
read them here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..rules.runbook_due import Task, describe, tasks
from ..store import Store

if TYPE_CHECKING:
    from ..config.load import Config

__all__ = ["Task", "describe", "due"]


def due(store: Store, cfg: Config, now: datetime, *, everything: bool = False) -> list[Task]:
    """Scheduled runbooks that are due or overdue (``everything``: all of them), most late first."""
    found = tasks(cfg, store, now)
    if not everything:
        found = [t for t in found if t.state != "ok"]
    order = {"overdue": 0, "due": 1, "ok": 2}
    return sorted(found, key=lambda t: (order[t.state], -t.late_by(now), t.runbook))
