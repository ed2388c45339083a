"""Who is on call: the pure arithmetic over a schedule's layers and its overrides.

Handoffs are local wall-clock times: a layer's boundaries are computed as naive local times
(``start`` at ``handoff``, plus whole rotations) and only then given the schedule's zone, so a
1-day rotation hands off at 09:00 local on both sides of a DST change (that shift is 23 or 25
hours long). A handoff inside a spring-forward gap lands just after it (02:30 -> 03:30).
Everything returned is in UTC. Nothing here reads a clock or the store: callers pass times and
overrides in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from ..config.oncall import WEEKDAYS, Layer, Schedule
from ..store.oncall import OverrideRow


@dataclass(frozen=True)
class Shift:
    person: str
    start: datetime
    end: datetime
    source: str  # "layer N" (1-based) or "override"
    override_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "source": self.source, "override_id": self.override_id}


Span = tuple[datetime, datetime]


def _aware(naive: datetime, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous wall time is its first occurrence; a missing one maps past the gap
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _local_naive(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None)


def layer_shifts(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """The layer's rotation shifts overlapping [start, end), unclipped; nobody before ``layer.start``."""
    anchor = datetime.combine(layer.start, layer.handoff_time())
    step = timedelta(seconds=layer.rotation)
    # the naive index is within one of the true one (DST moves wall time by an hour at most): start early
    k = max(0, (_local_naive(start, tz) - anchor) // step - 1)
    out: list[tuple[str, datetime, datetime]] = []
    while True:
        a, b = _aware(anchor + k * step, tz), _aware(anchor + (k + 1) * step, tz)
        if a >= end:
            return out
        if b > start:
            out.append((layer.people[k % len(layer.people)], a, b))
        k += 1


def restrict_windows(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> list[Span] | None:
    """The layer's daily windows overlapping [start, end), or None when it is not restricted."""
    if layer.restrict is None:
        return None
    ws, we = layer.restrict.bounds()
    days = set(layer.restrict.days)
    out: list[Span] = []
    d: date = _local_naive(start, tz).date() - timedelta(days=1)  # a window may start the day before
    last = _local_naive(end, tz).date()
    while d <= last:
        if WEEKDAYS[d.weekday()] in days:
            a = _aware(datetime.combine(d, ws), tz)
            b = _aware(datetime.combine(d + timedelta(days=1) if we <= ws else d, we), tz)
            if a < end and b > start:
                out.append((a, b))
        d += timedelta(days=1)
    return out


def _intersect(a: Span, windows: list[Span]) -> list[Span]:
    return [(max(a[0], w[0]), min(a[1], w[1])) for w in windows if max(a[0], w[0]) < min(a[1], w[1])]


def shifts(schedule: Schedule, overrides: Sequence[OverrideRow], start: datetime, end: datetime) -> list[Shift]:
    """The schedule's final shifts in [start, end), clipped to it, in order; gaps where nobody is on call.

    Each layer gives one piece per rotation shift (cut by its restrict windows); a later layer's
    piece covers an earlier one's, and an override covers every layer (``overrides`` come oldest
    first, as store/oncall.py lists them, so a later-created one covers an earlier one). The
    timeline is cut at every boundary and each cut keeps the winning piece; neighbours from the
    same piece join again, so a one-person layer still shows one shift per rotation.
    """
    tz = schedule.zone()
    pieces: list[Shift] = []  # in rank order: a later piece wins over an earlier one
    for i, layer in enumerate(schedule.layers):
        windows = restrict_windows(layer, tz, start, end)
        for person, a, b in layer_shifts(layer, tz, start, end):
            for s, e in _intersect((a, b), windows) if windows is not None else [(a, b)]:
                pieces.append(Shift(person, s, e, f"layer {i + 1}"))
    pieces.extend(Shift(o.person, o.starts_at, o.ends_at, "override", o.id) for o in overrides)
    cuts = sorted({start, end, *(t for p in pieces for t in (p.start, p.end) if start < t < end)})
    out: list[Shift] = []
    last_won = -1
    for a, b in pairwise(cuts):
        won = max((n for n, p in enumerate(pieces) if p.start <= a and p.end >= b), default=-1)
        if won < 0:
            continue
        win = pieces[won]
        if out and won == last_won and out[-1].end == a:
            out[-1] = Shift(win.person, out[-1].start, b, win.source, win.override_id)
        else:
            out.append(Shift(win.person, a, b, win.source, win.override_id))
        last_won = won
    return out


def lookaround(schedule: Schedule) -> timedelta:
    """How far either side of a time to look so the shift around it is seen whole (or nearly)."""
    return timedelta(seconds=max(layer.rotation for layer in schedule.layers)) + timedelta(days=8)


def on_call(schedule: Schedule, overrides: Sequence[OverrideRow], at: datetime) -> tuple[Shift | None, Shift | None]:
    """(the shift in force at ``at`` or None, the next shift after it or None), over ``lookaround``.

    ``overrides`` should cover [at - lookaround, at + lookaround) for whole since/until times."""
    span = lookaround(schedule)
    # an override in force at ``at`` may be longer than the look-around: see it whole too
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    start = min([at - span, *(o.starts_at for o in covering)])
    end = max([at + span, *(o.ends_at for o in covering)])
    found = shifts(schedule, overrides, start, end)
    current = next((s for s in found if s.start <= at < s.end), None)
    after = current.end if current else at
    upcoming = next((s for s in found if s.start >= after), None)
    return current, upcoming
