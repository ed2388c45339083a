"""Read what rules look at from the store, set-based: a few queries per evaluation, not one per rule.

Checks: the latest K results of every needed check come back in one UNION ALL statement per
200 checks (each branch an index seek on check_results(check_name, env, finished_at)), and each
distinct counting window is one GROUP BY query. Jobs (few) are one seek each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..store.db import load_json, parse_ts
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
    db = store.db
    out = {name: View() for name in needs}
    if not needs:
        return out
    names = sorted(needs)
    with db.transaction() as tx:
        for i in range(0, len(names), _CHUNK):
            chunk = names[i:i + _CHUNK]
            parts: list[str] = []
            params: list[Any] = []
            for n in chunk:
                # the same column type in every branch: PostgreSQL will not UNION jsonb with text
                col = "result" if needs[n].observations else f"CAST(NULL AS {db.types()['json']})"
                parts.append(f"SELECT * FROM (SELECT check_name, status, ok, duration_ms, finished_at, {col} AS result "
                             "FROM check_results WHERE check_name = ? AND env = ? AND finished_at <= ? "
                             f"ORDER BY finished_at DESC LIMIT {int(needs[n].last)}) AS q{len(parts)}")
                params += [n, env, db.ts(now)]
            rows = tx.all(" UNION ALL ".join(parts), params)
            rows.sort(key=lambda r: (r[0], r[4]), reverse=True)
            for name, status, ok, dur, at, result in rows:
                obs = None
                if result is not None:
                    obs = (load_json(result) or {}).get("observations") or {}
                out[name].recent.append(Latest(status, bool(ok), float(dur), parse_ts(at), obs))
        windows = sorted({w for n in needs.values() for w in n.windows})
        for w in windows:
            wanted = [n for n in names if w in needs[n].windows]
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                marks = ", ".join("?" for _ in chunk)
                rows = tx.all(
                    "SELECT check_name, count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM check_results "
                    f"WHERE env = ? AND check_name IN ({marks}) AND finished_at > ? AND finished_at <= ? "
                    "GROUP BY check_name", [env, *chunk, db.ts(now - timedelta(seconds=w)), db.ts(now)])
                for name, total, bad in rows:
                    out[name].windows[w] = (int(total), int(bad or 0))
            for n in wanted:
                out[n].windows.setdefault(w, (0, 0))
    return out


def fetch_jobs(store: Store, env: str, needs: dict[tuple[str, str], Need],
               now: datetime) -> dict[tuple[str, str], View]:
    db = store.db
    out = {key: View() for key in needs}
    at = "COALESCE(finished_at, started_at)"
    with db.transaction() as tx:
        for (kind, name), need in needs.items():
            view = out[(kind, name)]
            for status, ok, started, finished in tx.all(
                    "SELECT status, ok, started_at, finished_at FROM runs WHERE kind = ? AND name = ? AND env = ? "
                    f"AND started_at <= ? ORDER BY started_at DESC LIMIT {max(int(need.last), 1)}",
                    (kind, name, env, db.ts(now))):
                end = finished if finished is not None else started
                view.recent.append(Latest(status, bool(ok), 0.0, parse_ts(end)))
            row = tx.one(f"SELECT {at} FROM runs WHERE kind = ? AND name = ? AND env = ? AND ok = ? "
                         "AND started_at <= ? ORDER BY started_at DESC LIMIT 1", (kind, name, env, True, db.ts(now)))
            view.last_success = parse_ts(row[0]) if row else None
            for w in need.windows:
                row = tx.one("SELECT count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM runs "
                             "WHERE kind = ? AND name = ? AND env = ? AND started_at > ? AND started_at <= ?",
                             (kind, name, env, db.ts(now - timedelta(seconds=w)), db.ts(now)))
                view.windows[w] = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
    return out
