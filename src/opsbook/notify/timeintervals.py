"""Named time intervals (``notify.time_intervals``) for mute_time_intervals/active_time_intervals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..config.notify import Notify, TimeInterval


def interval_contains(iv: TimeInterval, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(iv.location))
    if iv.weekdays and local.weekday() not in iv.weekday_numbers():
        return False
    if iv.days_of_month and local.day not in iv.days_of_month:
        return False
    return not iv.times or any(r.contains(local.time()) for r in iv.times)


def in_interval(cfg: Notify, name: str, now: datetime) -> bool:
    """A named interval is a list of alternatives: any one matching is enough."""
    return any(interval_contains(iv, now) for iv in cfg.time_intervals.get(name, []))


def muted(cfg: Notify, mute: list[str], active: list[str], now: datetime) -> str | None:
    """Why sending is held back now (for people), or None when it may go out."""
    for name in mute:
        if in_interval(cfg, name, now):
            return f"in mute time interval {name}"
    if active and not any(in_interval(cfg, name, now) for name in active):
        return f"outside active time intervals {', '.join(active)}"
    return None
