"""Incident statistics over a period: how many incidents of each severity, and how fast they were
acknowledged and resolved on average (MTTA, MTTR), measured from detection as the incident record
measures them (docs/incidents.md, "Derived times").

Cancelled incidents (false alarms, duplicates) are counted but left out of both means; an incident
still open counts towards MTTA once acknowledged and towards MTTR only once resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.incidents import Incidents
from ..store import Store
from ..store import incidents as rows
from .incident import OPEN

SCHEMA = "opsbook.incident-stats/1"
MAX_INCIDENTS = 100_000


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class SeverityStats:
    severity: str
    count: int
    open: int
    cancelled: int
    ack_seconds: list[float]
    resolve_seconds: list[float]

    @property
    def mtta(self) -> float | None:
        return _mean(self.ack_seconds)

    @property
    def mttr(self) -> float | None:
        return _mean(self.resolve_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "count": self.count, "open": self.open, "cancelled": self.cancelled,
                "acknowledged": len(self.ack_seconds), "resolved": len(self.resolve_seconds),
                "mtta_seconds": self.mtta, "mttr_seconds": self.mttr}


@dataclass(frozen=True)
class Stats:
    since: datetime | None
    until: datetime
    by_severity: list[SeverityStats]
    total: SeverityStats
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat(), "truncated": self.truncated,
                "severities": [s.to_dict() for s in self.by_severity], "total": self.total.to_dict()}


def _stats(name: str, items: list[rows.IncidentRow]) -> SeverityStats:
    # a merged incident is a duplicate: like a cancelled one, counted but not in the means
    live = [r for r in items if r.status not in ("cancelled", "merged")]
    return SeverityStats(
        name, len(items), sum(r.status in OPEN for r in items), len(items) - len(live),
        [(r.acknowledged_at - r.detected_at).total_seconds() for r in live if r.acknowledged_at],
        [(r.resolved_at - r.detected_at).total_seconds() for r in live if r.resolved_at])


def compute(store: Store, cfg: Incidents, since: datetime | None, now: datetime,
            limit: int = MAX_INCIDENTS) -> Stats:
    """Incidents declared since ``since`` (None: all), by severity in the ladder's order (names no
    longer in the ladder after it); every configured severity is listed, with 0 when it had none."""
    with store.read() as tx:
        items = rows.listing(tx, None, since, limit + 1)
    truncated = len(items) > limit
    items = items[:limit]
    names = list(cfg.severity_names) + sorted({r.severity for r in items} - set(cfg.severity_names))
    by = [_stats(n, [r for r in items if r.severity == n]) for n in names]
    return Stats(since, now, by, _stats("all", items), truncated)
