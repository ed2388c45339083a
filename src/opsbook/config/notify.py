"""Config for notifications (``notify:``): routes, receivers, inhibition, time intervals.
Owned by the notify layer (src/opsbook/notify/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

ErrFn = Callable[..., None]


class Notify(Model):
    """Placeholder: filled in by the notify work."""


def cross_check_notify(cfg: ConfigBase, err: ErrFn) -> None:
    """Routes name receivers that exist; time intervals named by routes exist."""
