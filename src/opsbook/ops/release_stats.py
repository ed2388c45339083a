"""DORA statistics over a period, from the release registry (docs/releases.md, "DORA"):

- deployment frequency: releases recorded in the period, per day and per week;
- lead time for changes: commit -> deploy, for the releases recorded with ``--committed-at``;
- change failure rate: failed releases / releases. A release failed when a rollback went from it
  (whatever the rollback's own outcome), or when an incident was declared within
  ``releases.change_failure_window`` after it and before the next release of its service and
  environment (the incident is put on the release that was live). With ``components:`` set for
  the service, only incidents naming one of them (or naming none) count; cancelled and merged
  incidents never do;
- time to restore: from a failed release's deploy to the first of: a rollback from it that
  finished ``ok``, or the next release of its service and environment that did not fail.

One environment at a time (incidents carry no environment: they are put on its releases)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..store import Store
from ..store import incidents as incident_rows
from ..store import releases as rows

if TYPE_CHECKING:
    from ..config.releases import Releases

SCHEMA = "opsbook.release-stats/1"
MAX_ROWS = 100_000


def _summary(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "median_seconds": statistics.median(values) if values else None,
            "mean_seconds": statistics.fmean(values) if values else None}


@dataclass(frozen=True)
class ServiceStats:
    service: str
    deploys: int
    days: float
    lead_times: list[float]
    failed: int
    restore_times: list[float]
    unrestored: int

    @property
    def change_failure_rate(self) -> float | None:
        return self.failed / self.deploys if self.deploys else None

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "deploys": self.deploys,
                "deploys_per_day": self.deploys / self.days if self.days else None,
                "deploys_per_week": self.deploys / self.days * 7 if self.days else None,
                "lead_time": _summary(self.lead_times), "failed": self.failed,
                "change_failure_rate": self.change_failure_rate,
                "time_to_restore": {**_summary(self.restore_times), "unrestored": self.unrestored}}


@dataclass(frozen=True)
class Stats:
    env: str
    since: datetime
    until: datetime
    services: list[ServiceStats]
    total: ServiceStats
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "env": self.env, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "truncated": self.truncated, "services": [s.to_dict() for s in self.services],
                "total": self.total.to_dict()}


def _one(name: str, releases: list[rows.ReleaseRow], everything: list[rows.ReleaseRow],
         rollbacks: list[rows.EventRow], incidents: list[incident_rows.IncidentRow], cfg: Releases,
         days: float) -> ServiceStats:
    window = timedelta(seconds=cfg.change_failure_window)
    rolled_from = {e.release_id for e in rollbacks}
    restored_by_rollback: dict[int, datetime] = {}
    for e in sorted(rollbacks, key=lambda e: e.at):
        if e.detail.get("outcome") == "ok" and e.release_id is not None:
            restored_by_rollback.setdefault(e.release_id, e.at)
    # the next release of the same service+env (from all releases, also those after the period)
    nxt: dict[int, rows.ReleaseRow | None] = {}
    by_key: dict[tuple[str, str], list[rows.ReleaseRow]] = {}
    for r in sorted(everything, key=lambda r: (r.recorded_at, r.id)):
        by_key.setdefault((r.service, r.env), []).append(r)
    for seq in by_key.values():
        for a, b in zip(seq, [*seq[1:], None], strict=True):
            nxt[a.id] = b

    def comps(service: str) -> set[str]:
        svc = cfg.services.get(service)
        return set(svc.components) if svc else set()

    def failed(r: rows.ReleaseRow) -> bool:
        if r.id in rolled_from:
            return True
        end = r.recorded_at + window
        n = nxt.get(r.id)
        if n is not None:
            end = min(end, n.recorded_at)
        mine = comps(r.service)
        return any(r.recorded_at <= i.declared_at < end and i.status not in ("cancelled", "merged")
                   and (not mine or not i.components or mine & set(i.components)) for i in incidents)

    bad = {r.id for r in everything if failed(r)}
    restore: list[float] = []
    unrestored = 0
    for r in releases:
        if r.id not in bad:
            continue
        ends = [restored_by_rollback[r.id]] if r.id in restored_by_rollback else []
        n = nxt.get(r.id)
        while n is not None and n.id in bad:  # a next release that failed too did not restore anything
            n = nxt.get(n.id)
        if n is not None:
            ends.append(n.recorded_at)
        if ends:
            restore.append((min(ends) - r.recorded_at).total_seconds())
        else:
            unrestored += 1
    leads = [(r.recorded_at - r.committed_at).total_seconds() for r in releases if r.committed_at is not None]
    return ServiceStats(name, len(releases), days, leads, sum(r.id in bad for r in releases), restore, unrestored)


def compute(store: Store, cfg: Releases, env: str, since: datetime, now: datetime, *, service: str | None = None,
            limit: int = MAX_ROWS) -> Stats:
    """The statistics of ``env`` (one service, or each and all) for releases recorded in [since, now]."""
    with store.read() as tx:
        everything = rows.listing(tx, service=service, env=env, since=since, limit=limit + 1)
        rollbacks = rows.events(tx, service=service, env=env, kinds=("rollback_finished",), since=since,
                                limit=limit)
        incidents = incident_rows.listing(tx, None, since, limit)
    truncated = len(everything) > limit
    everything = everything[:limit]
    releases = [r for r in everything if r.recorded_at <= now]
    days = max((now - since).total_seconds() / 86400, 0.0)
    names = sorted({r.service for r in releases})
    per = [_one(n, [r for r in releases if r.service == n], [r for r in everything if r.service == n],
                [e for e in rollbacks if e.service == n], incidents, cfg, days) for n in names]
    total = ServiceStats("all", sum(s.deploys for s in per), days, [x for s in per for x in s.lead_times],
                         sum(s.failed for s in per), [x for s in per for x in s.restore_times],
                         sum(s.unrestored for s in per))
    return Stats(env, since, now, per, total, truncated)
