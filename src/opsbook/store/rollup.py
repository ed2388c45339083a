"""Bounded check history: raw results roll up minute -> hour -> day, then old rows are pruned.

Each level has a watermark (the exclusive end of what it holds). ``rollup_and_prune`` only
aggregates whole buckets between a level's watermark and the next closed bucket, and moves
the watermark in the same transaction, so re-running it never double counts. Readers tile a
time range: the coarsest level up to its watermark, then the next finer level, then raw
results since the minute watermark (``tiles``). Pruning never removes rows a coarser level
has not absorbed yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from . import alerts, audit, checks, heartbeats, outbox, runs
from .db import parse_ts

if TYPE_CHECKING:  # store.py gathers this module's migrations through schema.py: import nothing heavy
    from ..config.web import Retention
    from .store import Store

# the check history group: checks.py owns the raw tables; this module the rollups made from them
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (40, "check history rollups, their watermarks, the API audit log", [
        # minute/hour/day buckets per (check, env); h0..h11 count durations per fixed bucket
        # (HIST_BOUNDS_MS) so p95 can be estimated and merged by plain addition
        """CREATE TABLE check_rollups (
            level TEXT NOT NULL,
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            bucket {ts} NOT NULL,
            n {bigint} NOT NULL,
            n_ok {bigint} NOT NULL,
            n_pass {bigint} NOT NULL,
            n_warn {bigint} NOT NULL,
            n_fail {bigint} NOT NULL,
            n_error {bigint} NOT NULL,
            n_blocked {bigint} NOT NULL,
            dur_sum DOUBLE PRECISION NOT NULL,
            dur_min DOUBLE PRECISION NOT NULL,
            dur_max DOUBLE PRECISION NOT NULL,
            h0 {bigint} NOT NULL, h1 {bigint} NOT NULL, h2 {bigint} NOT NULL, h3 {bigint} NOT NULL,
            h4 {bigint} NOT NULL, h5 {bigint} NOT NULL, h6 {bigint} NOT NULL, h7 {bigint} NOT NULL,
            h8 {bigint} NOT NULL, h9 {bigint} NOT NULL, h10 {bigint} NOT NULL, h11 {bigint} NOT NULL,
            PRIMARY KEY (level, check_name, env, bucket))""",
        # covering: uptime over all checks sums n and n_ok without touching the table
        "CREATE INDEX ix_check_rollups_level_bucket ON check_rollups (level, bucket, check_name, env, n, n_ok)",
        # the end (exclusive) of what each level holds: re-running a rollup never double counts
        """CREATE TABLE rollup_watermarks (
            level TEXT PRIMARY KEY,
            upto {ts} NOT NULL)""",
    ]),
]

TABLES: tuple[str, ...] = ("check_rollups", "rollup_watermarks")

LEVELS = ("minute", "hour", "day")
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
SOURCE = {"minute": "raw", "hour": "minute", "day": "hour"}
# upper bounds (ms) of the duration histogram buckets h0..h10; h11 counts everything slower
HIST_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
NHIST = len(HIST_BOUNDS_MS) + 1
# a result may be stored a little after it finished; its minute closes this much later
GRACE = timedelta(minutes=1)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)  # the end of an open range
_STATUSES = ("pass", "warn", "fail", "error", "blocked")
_HCOLS = ", ".join(f"h{i}" for i in range(NHIST))
_COLS = f"n, n_ok, n_pass, n_warn, n_fail, n_error, n_blocked, dur_sum, dur_min, dur_max, {_HCOLS}"


def floor(dt: datetime, level: str) -> datetime:
    dt = dt.astimezone(UTC)
    if level == "minute":
        return dt.replace(second=0, microsecond=0)
    if level == "hour":
        return dt.replace(minute=0, second=0, microsecond=0)
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Agg:
    """Counts and durations of one bucket (or of any sum of buckets)."""

    n: int = 0
    n_ok: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    dur_sum: float = 0.0
    dur_min: float | None = None
    dur_max: float | None = None
    hist: list[int] = field(default_factory=lambda: [0] * NHIST)

    def add_result(self, status: str, ok: bool, duration_ms: float) -> None:
        self.n += 1
        self.n_ok += int(bool(ok))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.dur_sum += duration_ms
        self.dur_min = duration_ms if self.dur_min is None else min(self.dur_min, duration_ms)
        self.dur_max = duration_ms if self.dur_max is None else max(self.dur_max, duration_ms)
        self.hist[hist_index(duration_ms)] += 1

    def merge(self, other: Agg) -> None:
        if other.n == 0:
            return
        self.n += other.n
        self.n_ok += other.n_ok
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v
        self.dur_sum += other.dur_sum
        self.dur_min = other.dur_min if self.dur_min is None else min(self.dur_min, other.dur_min or 0.0)
        self.dur_max = other.dur_max if self.dur_max is None else max(self.dur_max, other.dur_max or 0.0)
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]

    @property
    def uptime(self) -> float | None:
        return self.n_ok / self.n if self.n else None

    @property
    def avg_ms(self) -> float | None:
        return self.dur_sum / self.n if self.n else None

    def quantile_ms(self, q: float) -> float | None:
        """Estimated from the histogram: the upper bound of the bucket holding the q-th result
        (capped by the slowest seen), so never below the true value by more than one bucket."""
        if not self.n:
            return None
        rank, seen = q * self.n, 0
        for i, c in enumerate(self.hist):
            seen += c
            if seen >= rank and c:
                bound = HIST_BOUNDS_MS[i] if i < len(HIST_BOUNDS_MS) else (self.dur_max or 0.0)
                return min(float(bound), self.dur_max or float(bound))
        return self.dur_max


def hist_index(duration_ms: float) -> int:
    for i, bound in enumerate(HIST_BOUNDS_MS):
        if duration_ms <= bound:
            return i
    return len(HIST_BOUNDS_MS)


def agg_from_row(row: tuple[Any, ...]) -> Agg:
    """A row of ``_COLS`` (as stored or as summed) -> Agg."""
    n, n_ok, *st = (int(v or 0) for v in row[:7])
    return Agg(n=n, n_ok=n_ok, statuses={s: c for s, c in zip(_STATUSES, st, strict=True) if c},
               dur_sum=float(row[7] or 0.0), dur_min=None if row[8] is None else float(row[8]),
               dur_max=None if row[9] is None else float(row[9]), hist=[int(v or 0) for v in row[10:10 + NHIST]])


def _hist_cases(col: str) -> str:
    cases, lo = [], None
    for bound in HIST_BOUNDS_MS:
        cond = f"{col} <= {bound}" if lo is None else f"{col} > {lo} AND {col} <= {bound}"
        cases.append(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END)")
        lo = bound
    cases.append(f"sum(CASE WHEN {col} > {lo} THEN 1 ELSE 0 END)")
    return ", ".join(cases)


# raw results of [lo, hi) summed per (check, env), in the column order of _COLS
_RAW_SUM = (
    "count(*), sum(CASE WHEN ok THEN 1 ELSE 0 END), "
    + ", ".join(f"sum(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in _STATUSES)
    + ", sum(duration_ms), min(duration_ms), max(duration_ms), " + _hist_cases("duration_ms")
)
_ROLLUP_SUM = (
    "sum(n), sum(n_ok), sum(n_pass), sum(n_warn), sum(n_fail), sum(n_error), sum(n_blocked), "
    "sum(dur_sum), min(dur_min), max(dur_max), " + ", ".join(f"sum(h{i})" for i in range(NHIST))
)
_UPSERT = (
    "ON CONFLICT (level, check_name, env, bucket) DO UPDATE SET "
    + ", ".join(f"{c} = check_rollups.{c} + excluded.{c}" for c in _COLS.split(", ")
                if c not in ("dur_min", "dur_max"))
    + ", dur_min = CASE WHEN excluded.dur_min < check_rollups.dur_min THEN excluded.dur_min "
      "ELSE check_rollups.dur_min END"
    + ", dur_max = CASE WHEN excluded.dur_max > check_rollups.dur_max THEN excluded.dur_max "
      "ELSE check_rollups.dur_max END"
)


def _source_sql(level: str) -> tuple[str, str]:
    """(SELECT ... GROUP BY for one target bucket, SQL of the next source row's time)."""
    if SOURCE[level] == "raw":
        return (f"SELECT check_name, env, {_RAW_SUM} FROM check_results "
                "WHERE finished_at >= ? AND finished_at < ? GROUP BY check_name, env",
                "SELECT min(finished_at) FROM check_results WHERE finished_at >= ?")
    src = SOURCE[level]
    return (f"SELECT check_name, env, {_ROLLUP_SUM} FROM check_rollups "
            f"WHERE level = '{src}' AND bucket >= ? AND bucket < ? GROUP BY check_name, env",
            f"SELECT min(bucket) FROM check_rollups WHERE level = '{src}' AND bucket >= ?")


def watermarks(store: Store) -> dict[str, datetime | None]:
    with store.db.read() as tx:
        return watermarks_tx(tx)


def watermarks_tx(tx: Any) -> dict[str, datetime | None]:
    got = {level: parse_ts(upto) for level, upto in tx.all("SELECT level, upto FROM rollup_watermarks")}
    return {level: got.get(level) for level in LEVELS}


def _retention(cfg: Any) -> Retention:
    """Accepts a Retention, a ConfigBase, a load.Config, or None (the defaults)."""
    from ..config.web import Retention

    if isinstance(cfg, Retention):
        return cfg
    model = getattr(cfg, "model", cfg)
    r = getattr(model, "retention", None)
    return r if isinstance(r, Retention) else Retention()


def _roll_level(store: Store, level: str, cutoff: datetime, max_buckets: int, per_tx: int = 240) -> int:
    """Aggregate closed buckets of ``level`` up to ``cutoff``; returns rows written. Buckets go
    ``per_tx`` to a transaction: few round trips, yet short write locks for the daemon."""
    db = store.db
    select, next_sql = _source_sql(level)
    step = STEP[level]
    marks = ", ".join("?" for _ in range(4 + 10 + NHIST))
    insert = f"INSERT INTO check_rollups (level, check_name, env, bucket, {_COLS}) VALUES ({marks}) {_UPSERT}"
    written = buckets = 0
    with db.transaction() as tx:
        row = tx.one("SELECT upto FROM rollup_watermarks WHERE level = ?", (level,))
        wm = parse_ts(row[0]) if row else None
        if wm is None:  # first run: start at the oldest source row
            first = tx.one(next_sql, (db.ts(datetime(1970, 1, 1, tzinfo=UTC)),))
            if not first or first[0] is None:
                return 0
            wm = floor(parse_ts(first[0]), level)
    while wm + step <= cutoff and buckets < max_buckets:
        with db.transaction() as tx:
            for _ in range(per_tx):
                if wm + step > cutoff or buckets >= max_buckets:
                    break
                buckets += 1
                rows = tx.all(select, (db.ts(wm), db.ts(wm + step)))
                if rows:
                    tx.execute_many(insert, [(level, r[0], r[1], db.ts(wm), *_ints(r[2:])) for r in rows])
                    written += len(rows)
                    wm += step
                    continue
                # an empty bucket: skip the gap to the next source row in one step
                nxt = tx.one(next_sql, (db.ts(wm),))
                if nxt is None or nxt[0] is None or floor(parse_ts(nxt[0]), level) >= cutoff:
                    wm = floor(cutoff, level)
                else:
                    wm = max(wm + step, floor(parse_ts(nxt[0]), level))
            _set_watermark(tx, level, wm)
    return written


def _ints(vals: tuple[Any, ...]) -> tuple[Any, ...]:
    # sums come back as Decimal from PostgreSQL; durations stay floats
    out: list[Any] = []
    for i, v in enumerate(vals):
        out.append(float(v or 0.0) if 7 <= i <= 9 else int(v or 0))
    return tuple(out)


def _set_watermark(tx: Any, level: str, upto: datetime) -> None:
    db = tx.db
    if tx.execute("UPDATE rollup_watermarks SET upto = ? WHERE level = ?", (db.ts(upto), level)).rowcount == 0:
        tx.execute("INSERT INTO rollup_watermarks (level, upto) VALUES (?, ?)", (level, db.ts(upto)))


def rollup_and_prune(store: Store, cfg: Any, now: datetime, max_buckets: int = 100_000) -> dict[str, Any]:
    """Roll closed minutes, hours and days up, then prune by ``retention:``. Idempotent; call
    it as often as you like (the daemon does every few minutes; more often keeps the raw part
    that readers scan small)."""
    started = time.perf_counter()
    ret = _retention(cfg)
    now = now.astimezone(UTC)
    cutoff = floor(now - GRACE, "minute")
    rolled: dict[str, int] = {}
    for level in LEVELS:
        # a coarser level only takes buckets the finer one has completely absorbed
        limit = cutoff if level == "minute" else floor(watermarks(store)[SOURCE[level]] or cutoff, level)
        rolled[level] = _roll_level(store, level, min(limit, cutoff), max_buckets)
    wms = watermarks(store)
    pruned = prune(store, ret, now, wms, keep_raw=slo_raw_needs(cfg))
    pruned.update(prune_growth(store, ret, now))
    return {
        "schema": "opsbook.rollup/1",
        "rolled": rolled,
        "pruned": pruned,
        "watermarks": {k: v.isoformat() if v else None for k, v in wms.items()},
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def slo_raw_needs(cfg: Any) -> dict[str, float]:
    """check -> seconds of raw results its SLOs read. An SLO counts every result of its window
    (good and bad, and `faster_than` needs each duration), so those results must outlive the
    default raw retention, or pruning the good ones would make the budget look spent."""
    model = getattr(cfg, "model", cfg)
    out: dict[str, float] = {}
    for slo in (getattr(model, "slos", None) or {}).values():
        if getattr(slo, "check", None):
            # a calendar month can be 31 days; a day of margin covers evaluation at its end
            window = 32 * 86400.0 if slo.window == "calendar_month" else slo.window_seconds + 86400.0
            out[slo.check] = max(out.get(slo.check, 0.0), window)
    return out


def prune(store: Store, ret: Retention, now: datetime, wms: dict[str, datetime | None],
          keep_raw: dict[str, float] | None = None) -> dict[str, int]:
    """Delete what retention lets go, but never rows the next level has not absorbed, nor the raw
    results an SLO still counts (``keep_raw``: check -> seconds)."""
    db = store.db
    keep_raw = {c: k for c, k in (keep_raw or {}).items() if k > max(ret.failures, ret.raw)}

    def bound(keep: float | None, absorbed_by: str | None) -> datetime | None:
        if keep is None:
            return None
        b = now - timedelta(seconds=keep)
        if absorbed_by is not None:
            wm = wms.get(absorbed_by)
            if wm is None:
                return None
            b = min(b, wm)
        return b

    out: dict[str, int] = {}
    with db.transaction() as tx:
        raw_ok, raw_bad = bound(ret.raw, "minute"), bound(max(ret.failures, ret.raw), "minute")
        out["raw"] = 0
        others = "".join(" AND check_name <> ?" for _ in keep_raw)
        if raw_ok is not None:
            out["raw"] += tx.execute(f"DELETE FROM check_results WHERE finished_at < ? AND ok = ?{others}",
                                     (db.ts(raw_ok), True, *keep_raw)).rowcount
        if raw_bad is not None:
            out["raw"] += tx.execute(f"DELETE FROM check_results WHERE finished_at < ?{others}",
                                     (db.ts(raw_bad), *keep_raw)).rowcount
        for check, slo_keep in keep_raw.items():
            until = bound(slo_keep, "minute")
            if until is not None:
                out["raw"] += tx.execute("DELETE FROM check_results WHERE check_name = ? AND finished_at < ?",
                                         (check, db.ts(until))).rowcount
        for level, keep, absorbed_by in (("minute", ret.minute, "hour"), ("hour", ret.hour, "day"),
                                         ("day", ret.day, None)):
            b = bound(keep, absorbed_by)
            out[level] = 0 if b is None else tx.execute(
                "DELETE FROM check_rollups WHERE level = ? AND bucket < ?", (level, db.ts(b))).rowcount
    return out


def prune_growth(store: Store, ret: Retention, now: datetime) -> dict[str, int]:
    """Prune every other table that grows with time or traffic (``retention:`` runs, pings, audit,
    outbox, outbox_dead, flips; None keeps all). What a reader needs to judge the present stays
    whatever its age: each heartbeat's last ping and last success, each job's last ``runs_keep``
    runs and its last successful run, and every notification still pending."""
    db = store.db
    out: dict[str, int] = {}

    def before(keep: float | None) -> Any:
        return None if keep is None else db.ts(now - timedelta(seconds=keep))

    with db.transaction() as tx:
        def delete(key: str, keep: float | None, prune: Callable[[Any], int]) -> None:
            cutoff = before(keep)
            out[key] = 0 if cutoff is None else prune(cutoff)

        delete("runs", ret.runs, lambda cutoff: runs.prune(tx, cutoff, ret.runs_keep))
        delete("pings", ret.pings, lambda cutoff: heartbeats.prune(tx, cutoff))
        delete("audit", ret.audit, lambda cutoff: audit.prune(tx, cutoff))
        delete("outbox", ret.outbox, lambda cutoff: outbox.prune_delivered(tx, cutoff))
        delete("outbox_dead", ret.outbox_dead, lambda cutoff: outbox.prune_dead(tx, cutoff))
        delete("flips", ret.flips, lambda cutoff: checks.prune_flips(tx, cutoff))
        cutoff = before(ret.flips)
        if cutoff is not None:
            out["flips"] += alerts.prune_transitions(tx, cutoff)
    return out


# -- reading across levels ----------------------------------------------------------------------


def tiles(wms: dict[str, datetime | None], level: str, since: datetime) -> list[tuple[str, datetime, datetime | None]]:
    """Non-overlapping (source, lo, hi) covering [floor(since, level), now): ``level`` rows up to
    its watermark, then each finer level up to its own, then raw results (hi None = open)."""
    lo = floor(since, level)
    out: list[tuple[str, datetime, datetime | None]] = []
    for lv in LEVELS[LEVELS.index(level)::-1]:
        wm = wms.get(lv)
        if wm is not None and wm > lo:
            out.append((lv, lo, wm))
            lo = wm
    out.append(("raw", lo, None))
    return out


def totals(store: Store, since: datetime, level: str = "hour",
           wms: dict[str, datetime | None] | None = None) -> dict[tuple[str, str], Agg]:
    """Per (check, env): everything since ``since`` (aligned down to ``level``), summed in SQL."""
    db = store.db
    wms = wms if wms is not None else watermarks(store)
    out: dict[tuple[str, str], Agg] = {}
    with db.read() as tx:
        for src, lo, hi in tiles(wms, level, since):
            if src == "raw":  # two-sided: see range_counts
                sql = (f"SELECT check_name, env, {_RAW_SUM} FROM check_results "
                       "WHERE finished_at >= ? AND finished_at < ?")
                params: tuple[Any, ...] = (db.ts(lo), db.ts(_FAR))
            else:
                sql = (f"SELECT check_name, env, {_ROLLUP_SUM} FROM check_rollups "
                       "WHERE level = ? AND bucket >= ? AND bucket < ?")
                params = (src, db.ts(lo), db.ts(hi))
            for r in tx.all(sql + " GROUP BY check_name, env", params):
                agg = agg_from_row(r[2:])
                out.setdefault((r[0], r[1]), Agg()).merge(agg)
    return out


Counts = dict[tuple[str, str], tuple[int, int]]

# (store url, source level, lo, hi) -> per (check, env) (results, ok results). Rollup rows below
# their level's watermark never change (only retention deletes old ones), so a range that ends at
# or below the watermark is summed once and kept; only raw results are summed on every call.
_CLOSED: dict[tuple[Any, ...], Counts] = {}
# the same for the merged closed part of a whole window (its pieces as the key)
_WINDOWS: dict[tuple[Any, ...], Counts] = {}
_DAYS: dict[tuple[Any, ...], dict[str, dict[datetime, tuple[int, int]]]] = {}
_CACHE_MAX = 64


def _remember(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> Any:
    if len(cache) >= _CACHE_MAX:
        cache.clear()  # keys move on as watermarks and window starts do; old ones are never asked again
    cache[key] = value
    return value


def range_counts(tx: Any, src: str, lo: datetime, hi: datetime | None,
                 wms: dict[str, datetime | None]) -> Counts:
    """Per (check, env): (results, ok results) in [lo, hi) of one source: a rollup level's rows
    by bucket, or raw results by finished_at (hi None: open ended). One grouped query."""
    wm = wms.get(src)
    closed = src != "raw" and hi is not None and wm is not None and hi <= wm
    key = (tx.db.url, src, lo, hi)
    if closed and key in _CLOSED:
        return _CLOSED[key]
    db = tx.db
    if src == "raw" and hi is None and db.dialect == "sqlite":
        return _raw_tail(tx, lo)
    # always a two-sided range: with ``>= ?`` alone SQLite's planner prefers walking the whole
    # (check_name, env, finished_at) index for the GROUP BY order: every raw row kept, per call
    if src == "raw":
        sql = ("SELECT check_name, env, count(*), sum(CASE WHEN ok THEN 1 ELSE 0 END) FROM check_results "
               "WHERE finished_at >= ? AND finished_at < ?")
        params: tuple[Any, ...] = (db.ts(lo), db.ts(hi or _FAR))
    else:
        sql = ("SELECT check_name, env, sum(n), sum(n_ok) FROM check_rollups "
               "WHERE level = ? AND bucket >= ? AND bucket < ?")
        params = (src, db.ts(lo), db.ts(hi or _FAR))
    out = {(c, e): (int(n or 0), int(ok or 0)) for c, e, n, ok in tx.all(sql + " GROUP BY check_name, env", params)}
    return _remember(_CLOSED, key, out) if closed else out


# (store url, lo) -> (the highest result id seen, the counts of results since lo up to it)
_TAILS: dict[tuple[Any, ...], tuple[int, Counts]] = {}
_RAW_SUM_SQL = ("SELECT check_name, env, count(*), sum(CASE WHEN ok THEN 1 ELSE 0 END) FROM check_results "
                "WHERE finished_at >= ? AND finished_at < ?")


def _raw_tail(tx: Any, lo: datetime) -> Counts:
    """Raw results since ``lo`` on SQLite, summed incrementally: only rows with an id above the
    last call's are read (by rowid). Exact because results are never updated, rows at or after
    ``lo`` (a minute watermark) are never pruned (pruning stops at that watermark), and SQLite has
    one writer at a time, so ids become visible in order. (PostgreSQL ids are not committed in
    order: there the tail is summed whole.)"""
    db = tx.db
    top = int((tx.one("SELECT max(id) FROM check_results") or (0,))[0] or 0)
    key = (db.url, lo)
    got = _TAILS.get(key)
    if got is not None and got[0] <= top and (got[0] == 0 or tx.one("SELECT 1 FROM check_results WHERE id = ?",
                                                                      (got[0],))):
        seen, base = got
        if seen == top:
            return base
        out = dict(base)
        # by rowid: "+finished_at" keeps SQLite from walking the tail by the finished_at index instead
        _add(out, {(c, e): (int(n), int(ok or 0)) for c, e, n, ok in tx.all(
            "SELECT check_name, env, count(*), sum(CASE WHEN ok THEN 1 ELSE 0 END) FROM check_results "
            "WHERE id > ? AND id <= ? AND +finished_at >= ? GROUP BY check_name, env", (seen, top, db.ts(lo)))})
    else:
        out = {(c, e): (int(n), int(ok or 0)) for c, e, n, ok in tx.all(
            _RAW_SUM_SQL + " AND id <= ? GROUP BY check_name, env", (db.ts(lo), db.ts(_FAR), top))}
    _remember(_TAILS, key, (top, out))
    return out


def _add(into: Counts, more: Counts) -> None:
    for k, (n, ok) in more.items():
        old = into.get(k)
        into[k] = (old[0] + n, old[1] + ok) if old else (n, ok)


def uptime_windows(tx: Any, windows: dict[str, tuple[datetime, str]],
                   wms: dict[str, datetime | None]) -> dict[str, Counts]:
    """Per window name -> per (check, env): (results, ok results) since the window's start
    (aligned down to its level). Windows are tiled (``tiles``) and cut where any of them starts or
    ends, so a piece shared by several windows (the same hour rows of today, the raw tail) is
    summed once. Closed pieces are cached; a call costs one grouped query over raw results."""
    plans = {w: tiles(wms, level, since) for w, (since, level) in windows.items()}
    cuts: dict[str, set[datetime]] = {}
    for parts in plans.values():
        for src, lo, hi in parts:
            cuts.setdefault(src, set()).update(p for p in (lo, hi) if p is not None)
    pieces: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for w, parts in plans.items():
        pieces[w] = []
        for src, lo, hi in parts:
            points = sorted(p for p in cuts[src] if p >= lo and (hi is None or p <= hi))
            bounds: list[datetime | None] = [*points, None] if hi is None else list(points)
            pieces[w] += [(src, a, b) for a, b in pairwise(bounds) if a is not None]
    memo: dict[tuple[str, datetime, datetime | None], Counts] = {}

    def piece(p: tuple[str, datetime, datetime | None]) -> Counts:
        if p not in memo:
            memo[p] = range_counts(tx, p[0], p[1], p[2], wms)
        return memo[p]

    out: dict[str, Counts] = {}
    for w, ps in pieces.items():
        closed = [p for p in ps if p[0] != "raw"]
        key = (tx.db.url, tuple(closed))
        base = _WINDOWS.get(key)
        if base is None:
            base = {}
            for p in closed:
                _add(base, piece(p))
            _remember(_WINDOWS, key, base)
        total = dict(base)
        for p in ps:
            if p[0] == "raw":
                _add(total, piece(p))
        out[w] = total
    return out


def uptime_counts(store: Store, since: datetime, level: str = "hour",
                  wms: dict[str, datetime | None] | None = None) -> Counts:
    """Per (check, env): (results, ok results) since ``since`` (aligned down to ``level``)."""
    with store.db.read() as tx:
        wms = wms if wms is not None else watermarks_tx(tx)
        return uptime_windows(tx, {"w": (since, level)}, wms)["w"]


def daily_counts(tx: Any, since: datetime, env: str, now: datetime,
                 wms: dict[str, datetime | None]) -> dict[str, dict[datetime, tuple[int, int]]]:
    """Per check of ``env`` -> per UTC day since ``since``: (results, ok results). Day rows as
    stored (kept until the day watermark moves); the days after it from the finer levels, one
    grouped query per level and day."""
    out: dict[str, dict[datetime, tuple[int, int]]] = {}
    for src, lo, hi in tiles(wms, "day", since):
        if src == "day":
            key = (tx.db.url, env, lo, hi)
            days = _DAYS.get(key)
            if days is None:
                days = {}
                when: dict[Any, datetime] = {}  # a few distinct bucket values, each parsed once
                for c, b, n, ok in tx.all("SELECT check_name, bucket, n, n_ok FROM check_rollups WHERE level = ? "
                                          "AND env = ? AND bucket >= ? AND bucket < ?",
                                          ("day", env, tx.db.ts(lo), tx.db.ts(hi))):
                    day = when.get(b)
                    if day is None:
                        day = when[b] = floor(parse_ts(b), "day")
                    days.setdefault(c, {})[day] = (int(n), int(ok))
                _remember(_DAYS, key, days)
            for c, per_day in days.items():
                out.setdefault(c, {}).update(per_day)
            continue
        # cut at day boundaries; an open (raw) tile's last piece stays open
        end = hi if hi is not None else max(lo, now)
        cuts = [lo]
        while floor(cuts[-1], "day") + STEP["day"] < end:
            cuts.append(floor(cuts[-1], "day") + STEP["day"])
        for a, b in zip(cuts, [*cuts[1:], hi], strict=True):
            day = floor(a, "day")
            for (c, e), (n, ok) in range_counts(tx, src, a, b, wms).items():
                if e == env:
                    mine = out.setdefault(c, {})
                    old = mine.get(day, (0, 0))
                    mine[day] = (old[0] + n, old[1] + ok)
    return out


def series(store: Store, check: str, env: str, since: datetime, level: str,
           wms: dict[str, datetime | None] | None = None) -> list[tuple[datetime, Agg]]:
    """One check's buckets of ``level`` since ``since``, oldest first, finer data folded in."""
    db = store.db
    wms = wms if wms is not None else watermarks(store)
    buckets: dict[datetime, Agg] = {}
    with db.read() as tx:
        for src, lo, hi in tiles(wms, level, since):
            if src == "raw":
                for status, ok, dur, fin in tx.all(
                        "SELECT status, ok, duration_ms, finished_at FROM check_results "
                        "WHERE check_name = ? AND env = ? AND finished_at >= ?", (check, env, db.ts(lo))):
                    buckets.setdefault(floor(parse_ts(fin), level), Agg()).add_result(status, bool(ok), float(dur))
                continue
            for r in tx.all(f"SELECT bucket, {_COLS} FROM check_rollups WHERE level = ? AND check_name = ? "
                            "AND env = ? AND bucket >= ? AND bucket < ?", (src, check, env, db.ts(lo), db.ts(hi))):
                buckets.setdefault(floor(parse_ts(r[0]), level), Agg()).merge(agg_from_row(r[1:]))
    return sorted(buckets.items())
