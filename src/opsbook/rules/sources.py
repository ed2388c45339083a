"""Read what rules look at from the store, set-based: a few queries per evaluation, not one per rule.

Checks: the latest K results of every needed check come back in one UNION ALL statement per
200 checks (each branch an index seek on check_results(check_name, env, finished_at)), and each
distinct counting window is one GROUP BY query. Jobs (few) are one seek each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import checks, runs
from ..store.store import Store

_CHUNK = 200  # SQLite allows 500 terms in a compound SELECT


@dataclass
class Need:
    """What the rules need of one check or job."""

    last: int = 1  # how many latest results (consecutive-failure counts need more than one)
    observations: bool = False
    windows: set[float] = field(default_factory=set)


@dataclass
class Latest:
    status: str
    ok: bool
    duration_ms: float
    at: datetime
    observations: dict[str, Any] | None = None


@dataclass
class View:
    """A check's (or job's) recent history as of ``now``."""

    recent: list[Latest] = field(default_factory=list)  # newest first
    windows: dict[float, tuple[int, int]] = field(default_factory=dict)  # seconds -> (total, bad)
    last_success: datetime | None = None

    @property
    def latest(self) -> Latest | None:
        return self.recent[0] if self.recent else None

    def consecutive_failures(self) -> int:
        n = 0
        for r in self.recent:
            if r.ok:
                break
            n += 1
        return n


def fetch_checks(store: Store, env: str, needs: dict[str, Need], now: datetime) -> dict[str, View]:
    out = {name: View() for name in needs}
    if not needs:
        return out
    names = sorted(needs)
    with store.transaction() as tx:
        for i in range(0, len(names), _CHUNK):
            chunk = names[i:i + _CHUNK]
            for name, status, ok, dur, at, obs in checks.recent(
                    tx, env, {n: (needs[n].last, needs[n].observations) for n in chunk}, now):
                out[name].recent.append(Latest(status, ok, dur, at, obs))
        windows = sorted({w for n in needs.values() for w in n.windows})
        for w in windows:
            wanted = [n for n in names if w in needs[n].windows]
            for i in range(0, len(wanted), 500):
                for name, counts in checks.window_totals(tx, env, wanted[i:i + 500], w, now).items():
                    out[name].windows[w] = counts
            for n in wanted:
                out[n].windows.setdefault(w, (0, 0))
    return out


def fetch_jobs(store: Store, env: str, needs: dict[tuple[str, str], Need],
               now: datetime) -> dict[tuple[str, str], View]:
    out = {key: View() for key in needs}
    with store.transaction() as tx:
        for (kind, name), need in needs.items():
            view = out[(kind, name)]
            for status, ok, end in runs.recent_outcomes(tx, kind, name, env, now, need.last):
                view.recent.append(Latest(status, ok, 0.0, end))
            view.last_success = runs.last_success(tx, kind, name, env, now)
            for w in need.windows:
                view.windows[w] = runs.window_total(tx, kind, name, env, w, now)
    return out
