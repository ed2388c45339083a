"""Every table that grows has a retention (``retention:``), applied by the daemon's rollup unit:
old runs, heartbeat pings, API audit rows, delivered and dead notifications and flips go; recent
ones stay, and so does whatever judges the present (a heartbeat's last ping, a job's last runs)."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.config.load import Config
from opsbook.daemon.log import Log
from opsbook.daemon.scheduler import Scheduler
from opsbook.store import Store, rollup
from tests.support.helpers import load

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def config(tmp_path: Path, extra: str = "") -> Config:
    return load(f"""
        retention: {{runs_keep: 3{extra}}}
        serve: {{jitter: 0}}
        """, tmp_path)


def insert(store: Store, sql: str, rows: list[tuple[Any, ...]]) -> None:
    db = store.db
    with db.transaction() as tx:
        tx.execute_many(sql, [tuple(db.ts(v) if isinstance(v, datetime) else v for v in r) for r in rows])


def seed(store: Store) -> None:
    db = store.db
    run = "INSERT INTO runs (kind, name, env, status, ok, started_at, finished_at) VALUES (?, ?, '', ?, ?, ?, ?)"
    old = [("backup", "nightly", "pass" if i == 0 else "fail", i == 0, ago(days=200, minutes=-i), None)
           for i in range(5)]  # 200 days old: one success, then four failures
    insert(store, run, [*old, ("backup", "nightly", "fail", False, ago(hours=1), None),
                        ("drill", "yearly", "pass", True, ago(days=300), None)])
    ping = "INSERT INTO heartbeat_pings (name, env, signal, at, body) VALUES (?, '', ?, ?, '')"
    insert(store, ping, [("cron", "success", ago(days=30)), ("cron", "fail", ago(days=20)),
                         ("cron", "start", ago(hours=1)), ("quiet", "success", ago(days=30)),
                         ("quiet", "success", ago(days=29))])
    audit = "INSERT INTO api_audit (at, actor, role, action, outcome) VALUES (?, 'ops', 'operator', ?, 'ok')"
    insert(store, audit, [(ago(days=100), "old"), (ago(days=1), "recent")])
    note = ("INSERT INTO notify_outbox (dedup_key, group_key, receiver, kind, status, payload, created_at, "
            "next_attempt_at, delivered_at, last_error_at) VALUES (?, 'g', 'hook', 'firing', ?, ?, ?, ?, ?, ?)")
    doc = db.json({"title": "x"})
    insert(store, note, [
        ("delivered-old", "delivered", doc, ago(days=41), ago(days=41), ago(days=40), None),
        ("delivered-recent", "delivered", doc, ago(days=2), ago(days=2), ago(days=2), None),
        ("pending-old", "pending", doc, ago(days=100), ago(days=100), None, ago(days=100)),
        ("dead-old", "dead", doc, ago(days=120), ago(days=120), None, ago(days=100)),
        ("dead-recent", "dead", doc, ago(days=3), ago(days=3), None, ago(days=2))])
    flip = "INSERT INTO check_flips (check_name, env, from_status, to_status, at) VALUES (?, '', 'pass', 'fail', ?)"
    insert(store, flip, [("old", ago(days=400)), ("recent", ago(days=1))])
    trans = ("INSERT INTO alert_transitions (fingerprint, env, rule, from_state, to_state, at) "
             "VALUES ('f', '', ?, 'pending', 'firing', ?)")
    insert(store, trans, [("old", ago(days=400)), ("recent", ago(days=1))])


def left(store: Store) -> dict[str, Any]:
    db = store.db
    with db.transaction() as tx:
        return {
            "runs": sorted(tuple(r) for r in tx.all("SELECT kind, name, status FROM runs")),
            "pings": sorted((n, s) for n, s in tx.all("SELECT name, signal FROM heartbeat_pings")),
            "audit": sorted(a for (a,) in tx.all("SELECT action FROM api_audit")),
            "outbox": sorted(k for (k,) in tx.all("SELECT dedup_key FROM notify_outbox")),
            "flips": sorted(c for (c,) in tx.all("SELECT check_name FROM check_flips")),
            "transitions": sorted(r for (r,) in tx.all("SELECT rule FROM alert_transitions")),
        }


def test_old_rows_of_every_growing_table_go_and_recent_ones_stay(any_store: Store, tmp_path: Path) -> None:
    seed(any_store)

    report = rollup.rollup_and_prune(any_store, config(tmp_path), NOW)

    got = left(any_store)
    # the recent run, the last 3 of the unit (recent + two newest old failures) and its last success
    assert got["runs"] == sorted([("backup", "nightly", "fail")] * 3 + [("backup", "nightly", "pass"),
                                                                        ("drill", "yearly", "pass")])
    # cron keeps its recent ping and its last success; quiet keeps its last ping only
    assert got["pings"] == [("cron", "start"), ("cron", "success"), ("quiet", "success")]
    assert got["audit"] == ["recent"]
    assert got["outbox"] == ["dead-recent", "delivered-recent", "pending-old"]  # pending is never pruned
    assert got["flips"] == ["recent"] and got["transitions"] == ["recent"]
    assert {k: report["pruned"][k] for k in ("runs", "pings", "audit", "outbox", "outbox_dead", "flips")} == {
        "runs": 2, "pings": 2, "audit": 1, "outbox": 1, "outbox_dead": 1, "flips": 2}


def test_forever_keeps_every_row(any_store: Store, tmp_path: Path) -> None:
    seed(any_store)
    before = left(any_store)
    keep = ", runs: forever, pings: forever, audit: forever, outbox: forever, outbox_dead: forever, flips: forever"

    rollup.rollup_and_prune(any_store, config(tmp_path, keep), NOW)

    assert left(any_store) == before


def test_the_daemons_rollup_unit_applies_the_retention(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    store = Store.open(cfg.store_url())
    try:
        seed(store)
        sched = Scheduler(cfg, store, log=Log(stream=io.StringIO()), clock=lambda: NOW, rng=random.Random(7))

        async def one_tick() -> None:
            await sched.tick(NOW + timedelta(seconds=2))
            assert await sched.drain(30)

        asyncio.run(one_tick())
        got = left(store)
        assert got["audit"] == ["recent"] and got["outbox"] == ["dead-recent", "delivered-recent", "pending-old"]
    finally:
        store.close()
