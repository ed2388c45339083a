"""SLO error budgets and burn tiers on a controlled clock: fast burn pages, slow burn tickets,
under the objective nothing fires, maintenance keeps the budget intact, low traffic does not page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.rules.engine import evaluate
from opsbook.rules.slo import status_of
from tests.support.helpers import load
from tests.support.rulesutil import T0, bulk, minutes, open_store

DAY = timedelta(days=1)
CONFIG = """
checks:
  api: {{command: {{run: "true"}}}}
slos:
  api-availability:
    objective: 99.9%
    window: {window}
    check: api
    min_events: {min_events}
{extra}
"""


def cfg_for(tmp_path: Path, window: str = "30d", min_events: int = 1, extra: str = ""):  # type: ignore[no-untyped-def]
    return load(CONFIG.format(window=window, min_events=min_events, extra=extra), tmp_path)


def firing(st) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.name for t in st.tiers if t.firing]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_fast_burn_fires_the_14_4x_page_tier(dialect: str, tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    with open_store(dialect, tmp_path) as store:
        # 3 days of good minutes, then the last 10 minutes all bad
        bulk(store, "api", T0 - 3 * DAY, T0 - minutes(10), timedelta(minutes=1))
        bulk(store, "api", T0 - minutes(10), T0, timedelta(minutes=1), bad=lambda i, at: True)
        st = status_of(cfg, store, "api-availability", T0)
        fast = st.tiers[0]
        assert (fast.name, fast.severity, fast.long, fast.short) == ("14.4x", "page", 3600.0, 300.0)
        # windows are (now - lookback, now]: 59 results in the hour, 4 in the 5 minutes
        counts = (fast.long_count.total, fast.long_count.bad, fast.short_count.total, fast.short_count.bad)
        assert counts == (59, 10, 4, 4)
        assert "14.4x" in firing(st)
        ev = evaluate(cfg, store, T0)
        pages = [a for a in ev.alerts if a.labels.get("tier") == "14.4x"]
        assert len(pages) == 1 and pages[0].state == "firing" and pages[0].severity == "page"
        assert pages[0].labels["slo"] == "api-availability"


def test_a_slow_burn_fires_only_the_1x_ticket_tier(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    with open_store("sqlite", tmp_path) as store:
        # 0.2 % errors (2x burn) steadily for 3 days, every 10 s
        bulk(store, "api", T0 - 3 * DAY, T0, timedelta(seconds=10), bad=lambda i, at: i % 500 == 0)
        st = status_of(cfg, store, "api-availability", T0)
        assert firing(st) == ["1x"]
        assert [t.severity for t in st.tiers] == ["page", "page", "ticket", "ticket"]


def test_under_the_objective_nothing_fires_and_the_arithmetic_is_shown(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    with open_store("sqlite", tmp_path) as store:
        # 0.05 % errors: half the budget rate
        n = bulk(store, "api", T0 - 3 * DAY, T0, timedelta(seconds=10), bad=lambda i, at: i % 2000 == 0)
        st = status_of(cfg, store, "api-availability", T0)
        assert firing(st) == []
        bad = st.events.bad
        assert st.events.total == n and bad == (n + 1999) // 2000
        assert st.consumed == pytest.approx(bad / (0.001 * n))
        assert f"{bad} / (0.001 x {n})" in st.formula
        assert not [a for a in evaluate(cfg, store, T0).alerts if a.state == "firing"]


def test_event_weighting_counts_events_not_a_mean_of_ratios(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    with open_store("sqlite", tmp_path) as store:
        # day 1: 1000 events, 10 bad (1 %); day 2: 10 events, 0 bad. Mean of daily ratios: 0.5 %;
        # event-weighted: 10/1010 = 0.99 %
        bulk(store, "api", T0 - 2 * DAY, T0 - 2 * DAY + timedelta(seconds=1000), timedelta(seconds=1),
             bad=lambda i, at: i < 10)
        bulk(store, "api", T0 - DAY, T0 - DAY + timedelta(seconds=10), timedelta(seconds=1))
        st = status_of(cfg, store, "api-availability", T0)
        assert (st.events.total, st.events.bad) == (1010, 10)
        assert st.consumed == pytest.approx(10 / (0.001 * 1010))


def test_a_maintenance_window_keeps_the_budget_intact(tmp_path: Path) -> None:
    extra = f"""maintenance:
  - name: upgrade
    start: {(T0 - minutes(15)).isoformat()}
    end: {T0.isoformat()}
    slos: [api-availability]"""
    cfg = cfg_for(tmp_path, extra=extra)
    plain = cfg_for(tmp_path)
    with open_store("sqlite", tmp_path) as store:
        bulk(store, "api", T0 - 3 * DAY, T0 - minutes(10), timedelta(minutes=1))
        bulk(store, "api", T0 - minutes(10), T0, timedelta(minutes=1), bad=lambda i, at: True)
        assert status_of(plain, store, "api-availability", T0).events.bad == 10  # without the window: burning
        st = status_of(cfg, store, "api-availability", T0)
        assert st.events.bad == 0 and st.consumed == 0 and st.remaining == 1
        assert firing(st) == []
        assert len(st.excluded) == 1


def test_low_traffic_below_min_events_does_not_page(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path, min_events=20)
    with open_store("sqlite", tmp_path) as store:
        # 3 events in the last 5 minutes, 2 bad: a huge ratio on almost no traffic
        bulk(store, "api", T0 - minutes(3), T0, timedelta(minutes=1), bad=lambda i, at: i < 2)
        st = status_of(cfg, store, "api-availability", T0)
        assert firing(st) == []
        assert "not enough traffic" in st.tiers[0].describe()


def test_tiers_scale_with_a_7_day_window(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path, window="7d")
    with open_store("sqlite", tmp_path) as store:
        st = status_of(cfg, store, "api-availability", T0)
    scale = 7 / 30
    assert [(t.long, t.short) for t in st.tiers] == [
        (pytest.approx(b * scale), pytest.approx(b * scale / 12)) for b in (3600, 6 * 3600, 86400, 3 * 86400)]
