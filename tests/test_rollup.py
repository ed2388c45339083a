"""Bounded history: rollups minute -> hour -> day are exact, idempotent and the same on SQLite and
PostgreSQL; retention prunes only what a coarser level holds; readers tile levels without gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.web import Retention
from opsbook.store import Store, rollup
from tests.support.helpers import load
from tests.support.webutil import result

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store  # conftest: SQLite and PostgreSQL


def fill(store: Store, start: datetime, hours: float, every_s: int = 60, checks: int = 2) -> int:
    """Results every ``every_s`` for ``hours``; check c0 fails on every 10th run."""
    rows, n = [], int(hours * 3600 / every_s)
    for i in range(n):
        at = start + timedelta(seconds=every_s * i + 5)
        for c in range(checks):
            bad = c == 0 and i % 10 == 0
            rows.append(result(f"c{c}", "fail" if bad else "pass", at, 10.0 + (i % 50) * 10))
    for i in range(0, len(rows), 500):
        store.record_results(rows[i:i + 500])
    return n


def raw_count(store: Store) -> int:
    with store.db.transaction() as tx:
        row = tx.one("SELECT count(*) FROM check_results")
    assert row is not None
    return int(row[0])


def test_rollup_counts_match_the_raw_results_and_rerunning_does_not_double_count(store: Store) -> None:
    n = fill(store, T0, hours=26)
    now = T0 + timedelta(hours=26, minutes=5)
    first = rollup.rollup_and_prune(store, Retention(raw=400 * 86400.0, failures=400 * 86400.0), now)
    assert first["rolled"]["minute"] > 0 and first["rolled"]["hour"] > 0 and first["rolled"]["day"] == 2
    again = rollup.rollup_and_prune(store, Retention(raw=400 * 86400.0, failures=400 * 86400.0), now)
    assert again["rolled"] == {"minute": 0, "hour": 0, "day": 0}
    totals = rollup.totals(store, T0, "day")
    c0 = totals[("c0", "")]
    assert c0.n == n and c0.n_ok == n - len(range(0, n, 10))
    assert c0.statuses == {"pass": c0.n_ok, "fail": n - c0.n_ok}
    assert totals[("c1", "")].uptime == 1.0
    # the same totals from each level on its own: day rows hold the first full day exactly
    with store.db.transaction() as tx:
        row = tx.one("SELECT sum(n) FROM check_rollups WHERE level = 'day' AND check_name = 'c0'")
    assert row is not None and int(row[0]) == 24 * 60


def test_duration_min_max_and_p95_estimate(store: Store) -> None:
    fill(store, T0, hours=2)
    rollup.rollup_and_prune(store, None, T0 + timedelta(hours=3))
    agg = rollup.totals(store, T0, "hour")[("c1", "")]
    assert agg.dur_min == 10.0 and agg.dur_max == 500.0
    durations = [10.0 + (i % 50) * 10 for i in range(120)]
    assert agg.avg_ms == pytest.approx(sum(durations) / len(durations))
    assert agg.quantile_ms(0.95) == 500.0  # true p95 is 490: the estimate is the bucket's upper bound


def test_retention_prunes_raw_and_levels_but_keeps_failures_longer(store: Store) -> None:
    n = fill(store, T0, hours=30, every_s=300)
    now = T0 + timedelta(hours=30, minutes=5)
    ret = Retention(raw=3600.0, failures=6 * 3600.0, minute=2 * 3600.0, hour=86400.0, day=None)
    report = rollup.rollup_and_prune(store, ret, now)
    assert report["pruned"]["raw"] > 0 and report["pruned"]["minute"] > 0
    with store.db.transaction() as tx:
        oldest_ok = tx.one("SELECT min(finished_at) FROM check_results WHERE ok = ?", (True,))
        oldest_bad = tx.one("SELECT min(finished_at) FROM check_results WHERE ok = ?", (False,))
        oldest_minute = tx.one("SELECT min(bucket) FROM check_rollups WHERE level = 'minute'")
    from opsbook.store.db import parse_ts

    assert oldest_ok and parse_ts(oldest_ok[0]) >= now - timedelta(hours=1, minutes=1)
    assert oldest_bad and parse_ts(oldest_bad[0]) < now - timedelta(hours=5)
    assert oldest_minute and parse_ts(oldest_minute[0]) >= now - timedelta(hours=2, minutes=1)
    # nothing lost from the reader's point of view: every result is still counted once
    total = rollup.totals(store, T0, "day")[("c1", "")]
    assert total.n == n


def test_raw_results_an_slo_counts_outlive_the_raw_retention(store: Store, tmp_path: Path) -> None:
    # c1 carries a 7-day SLO: pruning its good results after a day would make its budget look spent
    cfg = load("""
        checks:
          c0: {tcp: {host: 127.0.0.1, port: 9}}
          c1: {tcp: {host: 127.0.0.1, port: 9}}
        slos:
          c1-availability: {check: c1, objective: 99%, window: 7d}
        retention: {raw: 1h, failures: 6h, minute: 2h, hour: 1d}
        """, tmp_path)
    assert rollup.slo_raw_needs(cfg) == {"c1": 8 * 86400.0}
    fill(store, T0, hours=30, every_s=300)
    rollup.rollup_and_prune(store, cfg, T0 + timedelta(hours=30, minutes=5))
    with store.db.transaction() as tx:
        left = dict(tx.all("SELECT check_name, count(*) FROM check_results WHERE ok = ? GROUP BY check_name", (True,)))
    assert int(left["c1"]) == 360 and int(left["c0"]) < 20  # c1 keeps all 30 h; c0 only its last hour


def test_raw_rows_are_never_pruned_before_they_are_rolled_up(store: Store) -> None:
    fill(store, T0, hours=1)
    before = raw_count(store)
    report = rollup.prune(store, Retention(raw=60.0, failures=60.0), T0 + timedelta(days=3), rollup.watermarks(store))
    assert report["raw"] == 0 and raw_count(store) == before


def test_series_folds_finer_levels_into_the_asked_buckets(store: Store) -> None:
    fill(store, T0, hours=5)
    rollup.rollup_and_prune(store, None, T0 + timedelta(hours=3, minutes=30))  # hours 0-2 rolled, the rest raw
    points = rollup.series(store, "c1", "", T0, "hour")
    assert [t for t, _ in points] == [T0 + timedelta(hours=h) for h in range(5)]
    assert [a.n for _, a in points] == [60] * 5
    wms = rollup.watermarks(store)
    assert wms["hour"] is not None and wms["hour"] <= T0 + timedelta(hours=3)
    assert wms["minute"] == T0 + timedelta(hours=3, minutes=29)


def test_history_stays_bounded_when_time_moves_on(tmp_path: Path) -> None:
    """A year compressed: 4 checks every 15 min for 40 days with tight retention; the row count of
    each level stops growing once retention kicks in (what docs/history.md scales up)."""
    s = Store.open(f"sqlite:///{tmp_path / 'b.db'}")
    ret = Retention(raw=86400.0, failures=86400.0, minute=2 * 86400.0, hour=7 * 86400.0, day=20 * 86400.0)
    sizes = []
    try:
        for day in range(40):
            start = T0 + timedelta(days=day)
            fill(s, start, hours=24, every_s=900, checks=4)
            rollup.rollup_and_prune(s, ret, start + timedelta(days=1, minutes=2))
            if day in (30, 39):
                sizes.append(s.table_counts())
    finally:
        s.close()
    assert sizes[0]["check_results"] == sizes[1]["check_results"]
    assert sizes[0]["check_rollups"] == sizes[1]["check_rollups"]


def _raw_counts(store: Store, since: datetime) -> dict[tuple[str, str], tuple[int, int]]:
    with store.db.transaction() as tx:
        rows = tx.all("SELECT check_name, env, count(*), sum(CASE WHEN ok THEN 1 ELSE 0 END) FROM check_results "
                      "WHERE finished_at >= ? GROUP BY check_name, env", (store.db.ts(since),))
    return {(c, e): (int(n), int(ok)) for c, e, n, ok in rows}


def test_uptime_windows_tile_every_level_and_match_the_raw_results_as_watermarks_move(store: Store) -> None:
    """Day, hour, minute rows and the raw tail, cut where windows share pieces, with closed pieces
    cached: the counts equal a plain count of the raw results (kept: raw retention is long)."""
    keep = Retention(raw=400 * 86400.0, failures=400 * 86400.0)
    fill(store, T0, hours=53.5, every_s=300)
    for now in (T0 + timedelta(hours=53, minutes=30), T0 + timedelta(hours=58, minutes=10)):
        if now > T0 + timedelta(hours=54):
            fill(store, T0 + timedelta(hours=53.5), hours=4.5, every_s=300)
        rollup.rollup_and_prune(store, keep, now)
        wms = rollup.watermarks(store)
        assert wms["day"] == T0 + timedelta(days=2) and wms["hour"] is not None and wms["minute"] is not None
        # 24h: hour rows from 29 h on, then minute rows and raw; 1d: the day rows of day 1, then today's
        # hour rows (a piece 24h shares), minute rows, raw; all: day rows from T0 (a piece 1d shares), ...
        windows = {"24h": (now - timedelta(hours=24), "hour"), "1d": (now - timedelta(days=1), "day"),
                   "all": (T0, "day")}
        for more in (False, True):  # the second time from the cached pieces, the raw tail read incrementally
            if more:
                store.record_results([result("c0", "fail", now - timedelta(seconds=20)),
                                      result("c2", "pass", now - timedelta(seconds=20))])
            with store.db.read() as tx:
                got = rollup.uptime_windows(tx, windows, wms)
            for w, (since, level) in windows.items():
                assert got[w] == _raw_counts(store, rollup.floor(since, level)), w
        assert got["all"][("c0", "")][1] < got["all"][("c0", "")][0]  # c0 fails every 10th run


def test_daily_counts_fold_todays_finer_levels_into_days(store: Store) -> None:
    fill(store, T0, hours=53.5, every_s=300)
    now = T0 + timedelta(hours=53, minutes=30)
    rollup.rollup_and_prune(store, Retention(raw=400 * 86400.0, failures=400 * 86400.0), now)
    with store.db.read() as tx:
        got = rollup.daily_counts(tx, T0, "", now, rollup.watermarks_tx(tx))
    for day in range(3):
        lo, hi = T0 + timedelta(days=day), T0 + timedelta(days=day + 1)
        before, after = _raw_counts(store, lo), _raw_counts(store, hi)
        for check in ("c0", "c1"):
            n = before[(check, "")][0] - after.get((check, ""), (0, 0))[0]
            ok = before[(check, "")][1] - after.get((check, ""), (0, 0))[1]
            assert got[check][lo] == (n, ok), (check, day)
    assert set(got["c1"]) == {T0 + timedelta(days=d) for d in range(3)}
