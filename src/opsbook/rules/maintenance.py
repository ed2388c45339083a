"""Maintenance windows: which are in effect now, which time ranges they covered, what they scope.

Alerts in scope do not start firing during a window; SLO events inside a window are not counted.
"""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ..config.load import Config
from ..config.rules import MaintenanceWindow
from .spec import RuleSpec


def ranges(win: MaintenanceWindow, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The (from, to) spans of this window that overlap [start, end], clipped to it."""
    if win.start is not None and win.end is not None:
        a, b = max(win.start, start), min(win.end, end)
        return [(a, b)] if a < b else []
    from croniter import croniter

    assert win.schedule is not None and win.duration is not None
    length = timedelta(seconds=win.duration)
    tz = ZoneInfo(win.timezone)
    # start one window length early: an occurrence that began before `start` may still cover it
    it = croniter(win.schedule, (start - length).astimezone(tz))
    out = []
    while True:
        occ = it.get_next(datetime).astimezone(UTC)
        if occ >= end:
            break
        a, b = max(occ, start), min(occ + length, end)
        if a < b:
            out.append((a, b))
        if len(out) > 10_000:  # a cron every minute over months: stop, it is a config mistake
            break
    return out


def is_active(win: MaintenanceWindow, now: datetime) -> bool:
    return bool(ranges(win, now, now + timedelta(microseconds=1)))


def active(cfg: Config, now: datetime) -> list[MaintenanceWindow]:
    """The windows in effect at ``now``."""
    return [w for w in cfg.model.maintenance if is_active(w, now)]


def covers(win: MaintenanceWindow, spec: RuleSpec, labels: dict[str, str]) -> bool:
    """Is this alert instance (its rule, its labels, the checks it reads) in the window's scope?"""
    if win.everything:
        return True
    if any(fnmatch.fnmatchcase(spec.name, pat) for pat in win.alerts):
        return True
    if set(win.checks) & set(spec.checks):
        return True
    if spec.slo is not None and spec.slo in win.slos:
        return True
    return bool(win.match) and all(labels.get(k) == v for k, v in win.match.items())


def covers_slo(win: MaintenanceWindow, name: str, check: str | None) -> bool:
    if win.everything or name in win.slos:
        return True
    return check is not None and check in win.checks


def slo_ranges(cfg: Config, name: str, check: str | None, start: datetime,
               end: datetime) -> list[tuple[datetime, datetime]]:
    """Merged maintenance spans in [start, end] that apply to this SLO."""
    spans = sorted(r for w in cfg.model.maintenance if covers_slo(w, name, check) for r in ranges(w, start, end))
    merged: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
