"""The scheduler with a controlled clock: what is due, when, and what happens when a unit fails.

Real checks (command checks), a real SQLite store; time is a variable the test moves."""

from __future__ import annotations

import asyncio
import io
import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsbook.config.serve import Serve
from opsbook.daemon import leases
from opsbook.daemon.log import Log
from opsbook.daemon.schedule import Unit, backoff, jitter, next_cron, units_of
from opsbook.daemon.scheduler import Scheduler
from opsbook.store import Store
from tests.support.helpers import load

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now


def make(tmp_path: Path, text: str, clock: Clock, log: Log | None = None) -> tuple[Scheduler, Store]:
    cfg = load(text, tmp_path)
    store = Store.open(cfg.store_url())
    return Scheduler(cfg, store, log=log or Log(stream=io.StringIO()), clock=clock, rng=random.Random(7)), store


def results(store: Store, name: str) -> int:
    return len(store.history(name, limit=1000))


async def step(s: Scheduler, now: datetime) -> int:
    n = await s.tick(now)
    await s.drain(30)
    return n


def test_a_check_runs_at_its_every_and_not_between(tmp_path: Path) -> None:
    clock = Clock(T0)
    s, store = make(tmp_path, """
        checks:
          ok: {command: {run: "true"}, every: 10s}
        serve: {jitter: 0}
    """, clock)

    async def go() -> None:
        await step(s, clock.at(0))
        assert results(store, "ok") == 1
        await step(s, clock.at(5))
        await step(s, clock.at(9.9))
        assert results(store, "ok") == 1
        await step(s, clock.at(10))
        assert results(store, "ok") == 2
        await step(s, clock.at(15))
        assert results(store, "ok") == 2

    asyncio.run(go())
    store.close()


def test_a_cron_job_runs_at_its_schedule_in_its_timezone(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Paris moves to summer time
    clock = Clock(start)
    s, store = make(tmp_path, f"""
        resources:
          app-db: {{kind: sqlite, path: "{db}"}}
        backups:
          nightly: {{source: app-db, to: ./backups, schedule: "0 4 * * *"}}
        serve: {{timezone: Europe/Paris, jitter: 0}}
    """, clock)
    row = next(r for r in leases.rows(store) if r.kind == "backup")
    assert row.next_due == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)  # 04:00 CEST is 02:00 UTC

    async def go() -> None:
        clock.now = datetime(2026, 3, 29, 1, 59, 59, tzinfo=UTC)
        await step(s, clock.now)
        assert store.runs("backup") == []
        clock.now = datetime(2026, 3, 29, 2, 0, 1, tzinfo=UTC)
        await step(s, clock.now)
        runs = store.runs("backup")
        assert len(runs) == 1 and runs[0]["ok"] and runs[0]["name"] == "nightly"

    asyncio.run(go())
    row = next(r for r in leases.rows(store) if r.kind == "backup")
    assert row.next_due == datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
    assert row.last_status == "pass" and row.lease_owner is None
    store.close()


def test_cron_times_follow_the_timezone_across_daylight_saving() -> None:
    winter = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert next_cron("0 4 * * *", winter, "Europe/Paris") == datetime(2026, 3, 28, 3, 0, tzinfo=UTC)
    assert next_cron("0 4 * * *", winter + timedelta(days=1), "Europe/Paris") == \
        datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert next_cron("30 1 * * *", winter, "UTC") == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)


def test_jitter_stays_within_its_bounds() -> None:
    rng = random.Random(1)
    serve = Serve(jitter=0.1, max_jitter=30)
    every = Unit("check", "a", "", every=100)
    hourly = Unit("check", "b", "", every=3600)
    daily = Unit("backup", "c", "", cron="0 4 * * *")
    draws = [jitter(every, T0, serve, rng) for _ in range(2000)]
    assert all(0 <= d < 10 for d in draws) and max(draws) > 9  # fills the range, never past it
    assert all(0 <= jitter(hourly, T0, serve, rng) <= 30 for _ in range(500))
    assert all(0 <= jitter(daily, T0, serve, rng) <= 30 for _ in range(500))
    assert jitter(every, T0, Serve(jitter=0), rng) == 0


def test_jittered_checks_never_drift_from_their_slots(tmp_path: Path) -> None:
    clock = Clock(T0)
    s, store = make(tmp_path, """
        checks:
          ok: {command: {run: "true"}, every: 10s}
        serve: {jitter: 0.2}
    """, clock)

    async def go() -> None:
        for i in range(0, 100):
            await step(s, clock.at(i))

    asyncio.run(go())
    # slots every 10 s, each run delayed by < 2 s: exactly one run per slot over 100 s
    assert results(store, "ok") == 10
    store.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    serve = Serve(backoff=5, backoff_max=60)
    assert [backoff(n, serve) for n in range(0, 7)] == [0, 5, 10, 20, 40, 60, 60]


def test_a_unit_that_raises_is_backed_off_and_the_loop_continues(tmp_path: Path) -> None:
    out = io.StringIO()
    clock = Clock(T0)
    s, store = make(tmp_path, f"""
        resources:
          gone: {{kind: sqlite, path: "{tmp_path / 'missing' / 'nope.db'}"}}
        integrity:
          core:
            resource: gone
            checks: [{{row_count: {{table: t, min: 1}}}}]
        checks:
          ok: {{command: {{run: "true"}}, every: 60s}}
        serve:
          jitter: 0
          backoff: 2m
          schedules: {{integrity: {{core: "* * * * *"}}}}
    """, clock, Log(stream=out))

    async def go() -> None:
        await step(s, clock.at(60))  # the minute boundary: the suite is due, and so is the check
        row = next(r for r in leases.rows(store) if r.kind == "integrity")
        assert row.failures == 1 and row.last_status == "error"
        assert row.last_error["type"] == "CouldNotRun"
        assert row.next_due == T0 + timedelta(seconds=60 + 120)  # backoff (2m) beats the next minute
        assert results(store, "ok") == 1  # the check ran in the same tick regardless
        await step(s, clock.at(150))
        assert len(store.runs("integrity")) == 1  # backed off; the check ran again (its slot at 120)
        await step(s, clock.at(180))
        row = next(r for r in leases.rows(store) if r.kind == "integrity")
        assert row.failures == 2 and row.next_due == T0 + timedelta(seconds=180 + 240)
        assert results(store, "ok") == 3  # at 60, at 150 (the 120 slot) and at 180: the loop went on

    asyncio.run(go())
    text = out.getvalue()
    assert "integrity core error" in text and "retry in 120s" in text and "retry in 240s" in text
    # recorded like `opsbook integrity run`: an error run with the error document
    runs = store.runs("integrity")
    assert len(runs) == 2 and runs[0]["status"] == "error" and runs[0]["detail"]["error"]["type"] == "CouldNotRun"
    store.close()


def test_the_tick_line_names_counts_failures_and_flips(tmp_path: Path) -> None:
    flag = tmp_path / "healthy"
    flag.write_text("")
    out = io.StringIO()
    clock = Clock(T0)
    s, store = make(tmp_path, f"""
        checks:
          api-ready: {{command: {{run: "test -f {flag}"}}, every: 10s}}
          other: {{command: {{run: "true"}}, every: 10s}}
        serve: {{jitter: 0}}
    """, clock, Log(stream=out))

    async def go() -> None:
        await step(s, clock.at(0))
        flag.unlink()
        await step(s, clock.at(10))

    asyncio.run(go())
    lines = [ln for ln in out.getvalue().splitlines() if "ran " in ln]
    assert lines[0].endswith("ran 2 checks")
    assert lines[1].endswith("ran 2 checks (1 fail), 1 flip: api-ready pass->fail")
    store.close()


def test_json_log_lines_are_one_object_each(tmp_path: Path) -> None:
    out = io.StringIO()
    clock = Clock(T0)
    s, store = make(tmp_path, """
        checks:
          ok: {command: {run: "true"}, every: 10s}
          bad: {command: {run: "false"}, every: 10s}
        serve: {jitter: 0}
    """, clock, Log("json", stream=out))
    asyncio.run(step(s, clock.at(0)))
    docs = [json.loads(ln) for ln in out.getvalue().splitlines()]
    ran = next(d for d in docs if d["msg"].startswith("ran "))
    assert ran["level"] == "info" and ran["checks"] == 2 and ran["failed"] == 1 and "ts" in ran
    store.close()


def test_units_cover_checks_scheduled_jobs_and_chores(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          a: {command: {run: "true"}}
          b: {command: {run: "true"}, every: 5s}
        defaults: {every: 30s}
    """, tmp_path)
    units = {u.key: u for u in units_of(cfg)}
    assert units["check:a"].every == 30 and units["check:b"].every == 5
    assert {"rules:evaluate", "outbox:deliver", "rollup:prune"} <= set(units)
