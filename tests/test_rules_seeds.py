"""The seed runbooks' alert tables, on a controlled clock: each fires and resolves exactly when it should."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.rules.engine import current_alerts, evaluate
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.rulesutil import T0, minutes, open_store, record, result, run, state, timeline

CONFIG = """
checks:
  api-ready: {command: {run: "true"}}
  api-health: {command: {run: "true"}}
  api-metrics: {command: {run: "true"}}
  db: {command: {run: "true"}}
  worker-status: {command: {run: "true"}}
  tls-api: {command: {run: "true"}}
heartbeats:
  worker: {every: 5m, grace: 2m}
resources:
  app-db: {kind: sqlite, path: app.db}
backups:  # the rules read their runs; nothing here runs them
  daily: {source: app-db, path: ./backups}
  nightly: {source: app-db, path: ./backups}
alerts:
  api-not-ready:
    when: check api-ready failing
    for: 3m
    severity: page
    annotations: {summary: "API not ready", runbook: "https://runbooks.example.com/api-ready"}
  health-not-ready:
    when: check api-health json.health_ready != 'ready'
    for: 3m
    severity: page
  high-5xx:
    when: check api-metrics error_rate > 0.02
    recover_below: 0.015
    for: 5m
    severity: page
  db-connectivity:
    when: check db failures > 3 in 5m
    severity: page
  worker-job-failing:
    when: job backup nightly consecutive_failures >= 2
    severity: ticket
  worker-lag:
    when: check worker-status json.workerLagMs > 15m
    severity: page
  tls-expiry:
    when: check tls-api days_left < 14
    severity: ticket
  backup-stale:
    when: job backup daily last_success_age > 26h
    no_data: alert
    severity: page
  worker-heartbeat:
    when: heartbeat worker down
    severity: page
"""

STEP = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgres"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    with open_store("sqlite", tmp_path) as store:
        yield load(CONFIG, tmp_path), store


def test_api_not_ready_fires_after_3m_and_resolves_on_first_pass(dialect: str, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    with open_store(dialect, tmp_path) as store:
        def feed(now: datetime) -> None:
            failing = T0 <= now < T0 + minutes(10)
            record(store, result("api-ready", "fail" if failing else "pass", now))

        changes = timeline(cfg, store, "api-not-ready", T0 - minutes(2), T0 + minutes(12), STEP, feed)
        assert changes == [
            (T0, "pending"),
            (T0 + minutes(3), "firing"),
            (T0 + minutes(10), "resolved"),
            (T0 + minutes(10) + STEP, "inactive"),
        ]
        assert [a for a in current_alerts(store) if a.rule == "api-not-ready"] == []


def test_a_failure_shorter_than_for_never_fires(env: tuple[Config, Store]) -> None:
    cfg, store = env

    def feed(now: datetime) -> None:
        record(store, result("api-ready", "fail" if T0 <= now < T0 + minutes(2.5) else "pass", now))

    changes = timeline(cfg, store, "api-not-ready", T0, T0 + minutes(6), STEP, feed)
    assert changes == [(T0, "pending"), (T0 + minutes(2.5), "inactive")]


def test_health_ready_not_ready_for_3m_fires(env: tuple[Config, Store]) -> None:
    cfg, store = env

    def feed(now: datetime) -> None:
        status = "degraded" if T0 <= now < T0 + minutes(5) else "ready"
        record(store, result("api-health", "pass", now, observations={"json": {"health_ready": status}}))

    changes = timeline(cfg, store, "health-not-ready", T0 - minutes(1), T0 + minutes(6), STEP, feed)
    assert changes == [(T0, "pending"), (T0 + minutes(3), "firing"), (T0 + minutes(5), "resolved"),
                       (T0 + minutes(5) + STEP, "inactive")]


def test_5xx_rate_above_2_percent_for_5m_pages_and_hysteresis_holds_it_until_below_1_5(
        env: tuple[Config, Store]) -> None:
    cfg, store = env
    rate = {T0: 0.03, T0 + minutes(7): 0.018, T0 + minutes(9): 0.01}

    def feed(now: datetime) -> None:
        current = 0.0
        for at, r in sorted(rate.items()):
            if now >= at:
                current = r
        record(store, result("api-metrics", "pass", now, observations={"error_rate": current}))

    changes = timeline(cfg, store, "high-5xx", T0 - minutes(1), T0 + minutes(10), STEP, feed)
    # 0.018 is under the 2 % threshold but above the 1.5 % recovery line: still firing until 0.01
    assert changes == [(T0, "pending"), (T0 + minutes(5), "firing"), (T0 + minutes(9), "resolved"),
                       (T0 + minutes(9) + STEP, "inactive")]


def test_db_connectivity_fires_on_the_4th_failure_in_5m_and_resolves_when_they_age_out(
        env: tuple[Config, Store]) -> None:
    cfg, store = env
    fails = {T0, T0 + minutes(1), T0 + minutes(2), T0 + minutes(3)}

    def feed(now: datetime) -> None:
        record(store, result("db", "error" if now in fails else "pass", now))

    changes = timeline(cfg, store, "db-connectivity", T0 - minutes(1), T0 + minutes(10), STEP, feed)
    # the window is (now-5m, now]: the failure at T0 leaves it at T0+5m, leaving 3 (not > 3)
    assert changes == [(T0 + minutes(3), "firing"), (T0 + minutes(5), "resolved"),
                       (T0 + minutes(5) + STEP, "inactive")]


def test_worker_job_fires_on_2_consecutive_failed_runs_not_on_1(env: tuple[Config, Store]) -> None:
    cfg, store = env
    run(store, "backup", "nightly", True, T0 - minutes(60))
    run(store, "backup", "nightly", False, T0)
    assert state(evaluate(cfg, store, T0 + minutes(1)), "worker-job-failing") == "inactive"
    run(store, "backup", "nightly", True, T0 + minutes(10))
    run(store, "backup", "nightly", False, T0 + minutes(20))
    assert state(evaluate(cfg, store, T0 + minutes(21)), "worker-job-failing") == "inactive"
    run(store, "backup", "nightly", False, T0 + minutes(30))
    ev = evaluate(cfg, store, T0 + minutes(31))
    assert state(ev, "worker-job-failing") == "firing"
    run(store, "backup", "nightly", True, T0 + minutes(40))
    assert state(evaluate(cfg, store, T0 + minutes(41)), "worker-job-failing") == "resolved"


def test_worker_lag_over_15m_fires_and_14m_does_not(env: tuple[Config, Store]) -> None:
    cfg, store = env
    record(store, result("worker-status", "pass", T0, observations={"json": {"workerLagMs": 14 * 60_000}}))
    assert state(evaluate(cfg, store, T0), "worker-lag") == "inactive"
    record(store, result("worker-status", "pass", T0 + STEP, observations={"json": {"workerLagMs": 15 * 60_000}}))
    assert state(evaluate(cfg, store, T0 + STEP), "worker-lag") == "inactive"  # > 15m, not >=
    record(store, result("worker-status", "pass", T0 + 2 * STEP,
                         observations={"json": {"workerLagMs": 15 * 60_000 + 1}}))
    ev = evaluate(cfg, store, T0 + 2 * STEP)
    assert state(ev, "worker-lag") == "firing"
    lag = next(a for a in ev.alerts if a.rule == "worker-lag")
    assert "json.workerLagMs = 900001 (> 15m)" in lag.reason


def test_tls_cert_expiring_within_14_days_fires(env: tuple[Config, Store]) -> None:
    cfg, store = env
    record(store, result("tls-api", "pass", T0, observations={"days_left": 14}))
    assert state(evaluate(cfg, store, T0), "tls-expiry") == "inactive"
    record(store, result("tls-api", "pass", T0 + timedelta(days=1), observations={"days_left": 13}))
    assert state(evaluate(cfg, store, T0 + timedelta(days=1)), "tls-expiry") == "firing"


def test_backup_stale_fires_just_after_26h_without_a_successful_backup(env: tuple[Config, Store]) -> None:
    cfg, store = env
    # never backed up: no data, and the rule's no_data: alert makes that an alert
    assert state(evaluate(cfg, store, T0 - timedelta(hours=1)), "backup-stale") == "firing"
    run(store, "backup", "daily", True, T0)
    assert state(evaluate(cfg, store, T0 + minutes(1)), "backup-stale") == "resolved"
    run(store, "backup", "daily", False, T0 + timedelta(hours=24))  # a failed backup does not reset the age
    assert state(evaluate(cfg, store, T0 + timedelta(hours=26)), "backup-stale") == "inactive"
    assert state(evaluate(cfg, store, T0 + timedelta(hours=26, seconds=1)), "backup-stale") == "firing"


def test_heartbeat_down_after_every_plus_grace_without_a_ping(env: tuple[Config, Store]) -> None:
    from opsbook.rules.heartbeats import record_ping

    cfg, store = env
    record_ping(store, "worker", "success", T0, cfg=cfg)

    def feed(now: datetime) -> None:
        if now == T0 + minutes(10):
            record_ping(store, "worker", "success", now, cfg=cfg)

    changes = timeline(cfg, store, "worker-heartbeat", T0, T0 + minutes(11), STEP, feed)
    # due at +5m, down after +7m (grace 2m); the ping at +10m brings it back
    assert changes == [(T0 + minutes(7) + STEP, "firing"), (T0 + minutes(10), "resolved"),
                       (T0 + minutes(10) + STEP, "inactive")]
