"""The state machine and its rows: keep_firing_for, no-data policies, restarts, maintenance, CAS, isolation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from opsbook.rules import storage
from opsbook.rules.engine import current_alerts, evaluate
from opsbook.rules.maintenance import active
from opsbook.store import Store
from tests.support.helpers import free_port, load
from tests.support.rulesutil import T0, minutes, open_store, record, result, state, timeline

STEP = timedelta(seconds=30)


def config(tmp_path: Path, alerts: str, extra: str = "") -> str:
    return f"""
checks:
  api: {{command: {{run: "true"}}}}
  db: {{command: {{run: "true"}}}}
alerts:
{alerts}
{extra}
"""


def test_keep_firing_for_holds_the_alert_after_the_condition_clears(tmp_path: Path) -> None:
    cfg = load(config(tmp_path, "  flap: {when: check api failing, keep_firing_for: 2m}"), tmp_path)
    with open_store("sqlite", tmp_path) as store:
        def feed(now: datetime) -> None:
            record(store, result("api", "fail" if T0 <= now < T0 + minutes(1) else "pass", now))

        changes = timeline(cfg, store, "flap", T0, T0 + minutes(5), STEP, feed)
    assert changes == [(T0, "firing"), (T0 + minutes(2.5), "resolved"), (T0 + minutes(3), "inactive")]


def test_no_data_ok_keeps_quiet_and_no_data_alert_fires(tmp_path: Path) -> None:
    cfg = load(config(tmp_path, "  quiet: {when: check api failing}\n  loud: {when: check db failing, no_data: alert}"),
               tmp_path)
    with open_store("sqlite", tmp_path) as store:
        ev = evaluate(cfg, store, T0)
    assert state(ev, "quiet") == "inactive"
    assert state(ev, "loud") == "firing"
    assert "no data: alert" in ev.alerts[0].reason


def test_no_data_keep_last_keeps_the_last_verdict_when_results_stop(tmp_path: Path) -> None:
    cfg = load(config(tmp_path, "  lag: {when: check api json.lag > 10, no_data: keep_last}"), tmp_path)
    with open_store("sqlite", tmp_path) as store:
        record(store, result("api", "pass", T0, observations={"json": {"lag": 50}}))
        assert state(evaluate(cfg, store, T0), "lag") == "firing"
        # the observation disappears from the next result: no data, keep the last verdict
        record(store, result("api", "pass", T0 + STEP, observations={}))
        assert state(evaluate(cfg, store, T0 + STEP), "lag") == "firing"
        record(store, result("api", "pass", T0 + 2 * STEP, observations={"json": {"lag": 1}}))
        assert state(evaluate(cfg, store, T0 + 2 * STEP), "lag") == "resolved"


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_state_survives_a_restart_pending_since_is_kept(dialect: str, tmp_path: Path) -> None:
    cfg = load(config(tmp_path, "  api-down: {when: check api failing, for: 3m}"), tmp_path)
    with open_store(dialect, tmp_path) as store:
        record(store, result("api", "fail", T0))
        assert state(evaluate(cfg, store, T0), "api-down") == "pending"
        url = store.url
        store.close()
        again = Store.open(url)  # a new process: only the rows remember
        try:
            record(again, result("api", "fail", T0 + minutes(3)))
            ev = evaluate(cfg, again, T0 + minutes(3))
            assert state(ev, "api-down") == "firing"
            (alert,) = current_alerts(again)
            assert alert.active_since == T0 and alert.fired_at == T0 + minutes(3)
            history = storage.transitions(again, "")
            assert [(h["from"], h["to"]) for h in reversed(history)] == [("inactive", "pending"), ("pending", "firing")]
        finally:
            again.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_concurrent_state_change_wins_and_ours_is_dropped(dialect: str, tmp_path: Path) -> None:
    cfg = load(config(tmp_path, "  api-down: {when: check api failing, for: 1m}"), tmp_path)
    with open_store(dialect, tmp_path) as store:
        record(store, result("api", "fail", T0))
        evaluate(cfg, store, T0)
        stored = storage.load_states(store, "")
        (fp,) = stored
        # another evaluator moves the row on between our read and our write
        with store.db.transaction() as tx:
            tx.execute("UPDATE alert_state SET state = 'firing' WHERE fingerprint = ?", (fp,))
        prev = stored[fp]
        prev.alert.state = "firing"
        lost = storage.save_changes(store, "", [("pending", prev)], [], [("pending", "firing", prev)], T0)
        assert lost == [fp]
        assert storage.transitions(store, "")[0]["to"] == "pending"  # our transition was not recorded


def test_maintenance_window_keeps_an_alert_from_firing_and_it_fires_after(tmp_path: Path) -> None:
    extra = f"""
maintenance:
  - name: db-upgrade
    start: {(T0 + minutes(1)).isoformat()}
    end: {(T0 + minutes(10)).isoformat()}
    checks: [api]
    notice: "Database upgrade; the API may be briefly unavailable."
"""
    cfg = load(config(tmp_path, "  api-down: {when: check api failing, for: 2m}", extra), tmp_path)
    assert [w.name for w in active(cfg, T0 + minutes(5))] == ["db-upgrade"]
    assert active(cfg, T0 + minutes(10)) == []
    with open_store("sqlite", tmp_path) as store:
        def feed(now: datetime) -> None:
            record(store, result("api", "fail" if now >= T0 + minutes(2) else "pass", now))

        changes = timeline(cfg, store, "api-down", T0, T0 + minutes(13), STEP, feed)
    # failing from +2m inside the window: nothing until the window ends at +10m, then for: 2m
    assert changes == [(T0 + minutes(10), "pending"), (T0 + minutes(12), "firing")]


def test_a_recurring_maintenance_window_follows_its_cron(tmp_path: Path) -> None:
    extra = """
maintenance:
  - {name: nightly, schedule: "0 3 * * *", duration: 30m, alerts: ["api-*"]}
"""
    cfg = load(config(tmp_path, "  api-down: {when: check api failing}", extra), tmp_path)
    night = T0.replace(hour=3, minute=0)
    assert [w.name for w in active(cfg, night + minutes(29))] == ["nightly"]
    assert active(cfg, night + minutes(30)) == [] and active(cfg, night - minutes(1)) == []


def test_an_unreachable_prometheus_is_that_rules_error_and_other_rules_still_evaluate(tmp_path: Path) -> None:
    port = free_port()
    extra = f"resources:\n  prom: {{kind: prometheus, url: 'http://127.0.0.1:{port}', timeout: 2s}}"
    alerts = ("  api-down: {when: check api failing}\n"
              "  high-5xx: {prometheus: {resource: prom, query: 'sum(rate(http_requests_total[5m]))'}, above: 1}")
    cfg = load(config(tmp_path, alerts, extra), tmp_path)
    with open_store("sqlite", tmp_path) as store:
        record(store, result("api", "fail", T0))
        ev = evaluate(cfg, store, T0)
        assert state(ev, "api-down") == "firing"
        assert "unreachable" in ev.errors["high-5xx"] and f"127.0.0.1:{port}" in ev.errors["high-5xx"]
        assert storage.rule_status(store, "")["high-5xx"]["last_error"] == ev.errors["high-5xx"]


def test_editing_a_rule_s_labels_resolves_the_old_instance(tmp_path: Path) -> None:
    with open_store("sqlite", tmp_path) as store:
        record(store, result("api", "fail", T0))
        cfg = load(config(tmp_path, "  api-down: {when: check api failing, severity: page}"), tmp_path)
        assert state(evaluate(cfg, store, T0), "api-down") == "firing"
        cfg2 = load(config(tmp_path, "  api-down: {when: check api failing, severity: ticket}"), tmp_path)
        ev = evaluate(cfg2, store, T0 + STEP)
        assert sorted((a.severity, a.state) for a in ev.alerts) == [("page", "resolved"), ("ticket", "firing")]


def test_bad_conditions_are_config_errors_naming_the_key(tmp_path: Path) -> None:
    from opsbook.errors import ConfigErrors

    for text, words in [
        ("  x: {when: check nope failing}", "no check named 'nope'"),
        ("  x: {when: check api failures > 3}", "add 'in 5m'"),
        ("  x: {when: bogus api failing}", "starts with check, job, heartbeat, runbook or secret"),
        ("  x: {when: check api failing, above: 3}", "above:/below: go with prometheus:"),
    ]:
        with pytest.raises(ConfigErrors) as e:
            load(config(tmp_path, text), tmp_path)
        assert "alerts.x" in str(e.value) and words in str(e.value), str(e.value)
