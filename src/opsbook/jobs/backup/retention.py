"""GFS retention as a pure function: backups + now + policy -> keep or delete, each with reasons.

``daily: N`` keeps the newest backup of each of the N most recent days that have one (likewise
ISO weeks and months), so a pause in backups never makes the policy delete everything. Two
floors hold whatever the policy says: the newest good backup and the newest drill-verified
backup are always kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...config.backups import Keep

SCHEMA = "opsbook.backup-prune/1"


@dataclass(frozen=True)
class Item:
    id: str
    created: datetime


@dataclass
class Decision:
    id: str
    created: datetime
    keep: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created.isoformat(), "keep": self.keep, "reasons": self.reasons}


def _buckets(items: list[Item], count: int, key: Callable[[datetime], Any], label: str,
             out: dict[str, list[str]]) -> None:
    """Newest item of each of the ``count`` most recent periods (items are newest first)."""
    seen: list[Any] = []
    for it in items:
        period = key(it.created)
        if period in seen:
            continue
        if len(seen) >= count:
            break
        seen.append(period)
        out[it.id].append(f"{label} {_fmt(period)}")


def _fmt(period: Any) -> str:
    if isinstance(period, tuple):
        return "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(period))
    return str(period)


def plan(backups: Iterable[Item], now: datetime, keep: Keep, verified: set[str] = frozenset()) -> list[Decision]:  # type: ignore[assignment]
    """Decisions, newest first. Backups dated after ``now`` (clock skew) are always kept."""
    items = sorted(backups, key=lambda i: (i.created, i.id), reverse=True)
    reasons: dict[str, list[str]] = {i.id: [] for i in items}
    for n, it in enumerate(items[: keep.last]):
        reasons[it.id].append(f"last {n + 1}/{keep.last}")
    _buckets(items, keep.daily, lambda d: (d.year, d.month, d.day), "daily", reasons)
    _buckets(items, keep.weekly, lambda d: (d.isocalendar()[0], d.isocalendar()[1]), "weekly", reasons)
    _buckets(items, keep.monthly, lambda d: (d.year, d.month), "monthly", reasons)
    if items:
        reasons[items[0].id].append("floor: newest good backup")
    newest_verified = next((i for i in items if i.id in verified), None)
    if newest_verified is not None:
        reasons[newest_verified.id].append("floor: newest drill-verified backup")
    for it in items:
        if it.created > now:
            reasons[it.id].append("dated in the future (clock skew?)")
    return [Decision(i.id, i.created, bool(reasons[i.id]), reasons[i.id] or ["outside the keep: policy"])
            for i in items]
