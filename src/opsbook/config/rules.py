"""Config for alert rules, SLOs, heartbeats and maintenance windows (``alerts:``, ``slos:``,
``heartbeats:``, ``maintenance:``). Owned by the rules layer (src/opsbook/rules/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

ErrFn = Callable[..., None]


class AlertRule(Model):
    """Placeholder: filled in by the rules work."""


class Slo(Model):
    """Placeholder: filled in by the rules work."""


class Heartbeat(Model):
    """Placeholder: filled in by the rules work."""


class MaintenanceWindow(Model):
    """Placeholder: filled in by the rules work."""


def cross_check_rules(cfg: ConfigBase, err: ErrFn) -> None:
    """References from alerts/slos to checks, jobs, resources and heartbeats."""
