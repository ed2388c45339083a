"""The canary gate against two real sample-service instances on 127.0.0.1: a canary answering 5 %
500s and 150 ms slower is rolled back (the rollback command runs), a healthy one is promoted, one
that does not answer cannot be measured, a Prometheus query without data holds as inconclusive, and
a SIGTERM mid-analysis records the rollout as aborted. The record is checked on both store dialects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opsbook.config.load import Config
from opsbook.ops import canary
from opsbook.render.canary import markdown
from opsbook.store import Store, rollouts
from tests.support.clirun import opsbook
from tests.support.demo_service import Service, demo_service
from tests.support.helpers import free_port, load


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    work = tmp_path_factory.mktemp("canary")
    (work / "baseline").mkdir()
    (work / "canary").mkdir()
    with demo_service(work / "baseline") as base, demo_service(work / "canary") as can:
        yield base, can


@pytest.fixture
def healthy(services: tuple[Service, Service]) -> Iterator[tuple[Service, Service]]:
    yield services
    for s in services:
        httpx.post(s.url + "/admin/fault", json={"mode": "none"}, timeout=5)


def degrade(svc: Service, rate: float = 0.05) -> None:
    r = httpx.post(svc.url + "/admin/fault", json={"mode": "degraded", "rate": rate}, timeout=5)
    assert r.json() == {"mode": "degraded", "rate": rate}


# latency: the canary's check durations against the baseline's (a wide tolerance: two local services
# on a shared machine jitter by tens of percent; +150 ms on a few ms is +1000 % and more);
# errors: the pass ratio per measurement, on its own path (the sample service fails every 20th call
# to each path)
CONFIG = """
checks:
  api-health: {{http: {{url: "http://127.0.0.1:1/health"}}}}
  api-ready: {{http: {{url: "http://127.0.0.1:1/readyz"}}}}
canaries:
  api:
    canary: next
    baseline: stable
    targets: {{stable: "{base}", next: "{can}"}}
    analysis: {{interval: 0.5s, count: 2, timeout: 10s}}
    metrics:
      latency:
        provider: check
        check: api-health
        samples: 10
        concurrency: 2
        compare: {{direction: increase, tolerance: 1.0, min_samples: 20}}
        critical: true
      errors:
        provider: check
        check: api-ready
        value: ok
        samples: 20
        success_condition: result >= 0.99
        consecutive_error_limit: {errors}
    rollback: "echo rolled back from ${{canary_url}} > {marker}"
"""


def config(tmp_path: Path, base: str, can: str, errors: int = 4) -> Config:
    return load(CONFIG.format(base=base, can=can, marker=tmp_path / "rolled-back.txt", errors=errors), tmp_path)


def test_a_canary_with_five_percent_errors_and_150ms_more_latency_is_rolled_back_and_recorded(
        healthy: tuple[Service, Service], any_store: Store, tmp_path: Path) -> None:
    base, can = healthy
    degrade(can)
    report = canary.run(config(tmp_path, base.url, can.url), any_store, "api")
    assert report.status == "rolled_back" and report.exit_code == 1
    assert (tmp_path / "rolled-back.txt").read_text() == f"rolled back from {can.url}\n"
    assert "errors" in report.reason
    with any_store.read() as tx:
        row = rollouts.get(tx, report.rollout_id)
        taken = rollouts.measurements(tx, report.rollout_id)
        events = rollouts.events(tx, report.rollout_id)
    assert row is not None and row.status == "rolled_back" and row.finished_at is not None
    assert {(m.metric, m.target) for m in taken} == {("latency", "canary"), ("latency", "baseline"),
                                                    ("errors", "canary")}
    assert [m.result for m in taken if m.metric == "errors"] == [0.95]
    assert [(e.kind, e.exit_code) for e in events if e.kind == "rollback"] == [("rollback", 0)]
    with any_store.transaction() as tx:  # finishing is once: a second finish finds it finished
        assert rollouts.finish(tx, row.id, "promoted", "late", None, row.started_at, {}) is None


def test_the_latency_comparison_alone_fails_a_canary_150ms_slower(
        healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, can = healthy
    degrade(can, rate=0.0)  # slower, never a 500
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        report = canary.run(config(tmp_path, base.url, can.url), store, "api")
    finally:
        store.close()
    assert report.status == "rolled_back"
    latency = report.analyses[0]["score"]["comparisons"]["latency"]
    assert latency["verdict"] == "fail" and latency["n_canary"] == 20 and latency["n_baseline"] == 20
    assert latency["shift"] > 100  # ms


def test_two_healthy_instances_are_promoted(healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, can = healthy
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        report = canary.run(config(tmp_path, base.url, can.url), store, "api")
    finally:
        store.close()
    assert report.status == "promoted" and report.exit_code == 0, report.reason
    assert not (tmp_path / "rolled-back.txt").exists()
    assert report.analyses[0]["score"]["verdict"] == "pass"


def test_a_canary_that_does_not_answer_could_not_be_measured_and_is_not_rolled_back(
        healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, _ = healthy
    nobody = f"http://127.0.0.1:{free_port()}"
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        report = canary.run(config(tmp_path, base.url, nobody, errors=1), store, "api")
    finally:
        store.close()
    assert report.status == "could_not_measure" and report.exit_code == 3
    assert "consecutive errors" in report.reason
    assert not (tmp_path / "rolled-back.txt").exists()


def test_the_cli_takes_the_canary_by_url_and_renders_the_record_as_markdown(
        healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, can = healthy
    (tmp_path / "opsbook.yaml").write_text(CONFIG.format(base="http://127.0.0.1:1", can="http://127.0.0.1:2",
                                                         marker=tmp_path / "rolled-back.txt", errors=4))
    got = opsbook("gate", "canary", "api", "--canary", can.url, "--baseline", "stable", "--md", cwd=tmp_path)
    assert got.code == 3  # "stable" is still the config's dead URL: could not measure
    got = opsbook("gate", "canary", "api", "--canary", can.url, "--baseline", base.url, "--md", cwd=tmp_path)
    assert got.code == 0, got.text
    assert got.stdout.startswith("# Canary api: promoted")
    assert "| latency | pass |" in got.stdout and "## Measurements" in got.stdout
    got = opsbook("gate", "canary", "api", "--canary", "nxt", "--json", cwd=tmp_path)
    assert got.code == 2 and "did you mean 'next'?" in got.text


def test_sigterm_during_the_analysis_records_the_rollout_as_aborted_and_promotes_nothing(
        healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, can = healthy
    text = CONFIG.format(base=base.url, can=can.url, marker=tmp_path / "rolled-back.txt", errors=4)
    (tmp_path / "opsbook.yaml").write_text(text.replace("count: 2", "count: 600")
                                           + '    promote: "touch promoted.txt"\n')
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "opsbook", "gate", "canary", "api", "--json"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the child has measured something
            try:
                with store.read() as tx:
                    rows = rollouts.latest(tx, "api")
                    if rows and rollouts.measurements(tx, rows[0].id):
                        break
            except Exception:  # the child may still be creating the store
                pass
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143
    doc = json.loads(out)
    assert doc["status"] == "aborted" and doc["ok"] is False
    with store.read() as tx:
        row = rollouts.latest(tx, "api")[0]
    store.close()
    assert row.status == "aborted"
    assert not (tmp_path / "promoted.txt").exists()


PROMETHEUS = "/usr/bin/prometheus"


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed")
def test_a_prometheus_query_without_data_holds_the_canary_as_inconclusive(
        healthy: tuple[Service, Service], tmp_path: Path) -> None:
    base, can = healthy
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1s}\nscrape_configs: []\n")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        cfg = load(f"""
        resources:
          prom: {{kind: prometheus, url: "{url}"}}
        canaries:
          api:
            canary: {can.url}
            baseline: {base.url}
            analysis: {{interval: 0.2s, count: 2}}
            metrics:
              errors:
                provider: prometheus
                resource: prom
                query: 'sum(rate(http_requests_total{{instance="${{canary}}", status=~"5.."}}[1m]))'
                success_condition: result < 0.01
            rollback: "touch {tmp_path / 'rolled-back.txt'}"
        """, tmp_path)
        store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
        try:
            report = canary.run(cfg, store, "api")
            with store.read() as tx:
                taken = rollouts.measurements(tx, report.rollout_id)
        finally:
            store.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert report.status == "inconclusive" and report.exit_code == 4
    assert "no data" in report.reason
    assert [(m.outcome, m.n) for m in taken] == [("inconclusive", 0)]
    assert not (tmp_path / "rolled-back.txt").exists()


def test_the_markdown_record_lists_measurements_events_and_the_verdict(any_store: Store) -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with any_store.transaction() as tx:
        row = rollouts.start(tx, "api", "http://c", "http://b", None, at)
        rollouts.add_measurement(tx, row.id, 1, "errors", "canary", at, "failed", 0.95, [1.0] * 19 + [0.0], "x|y")
        rollouts.add_event(tx, row.id, at, "rollback", "rollback: `false` exited 1", 1)
        done = rollouts.finish(tx, row.id, "rolled_back", "errors failed", None, at, {"analyses": []})
    assert done is not None
    with any_store.read() as tx:
        text = markdown(done, rollouts.measurements(tx, row.id), rollouts.events(tx, row.id))
    assert text.startswith("# Canary api: rolled_back")
    assert "| errors | canary | failed | 0.95 | 20 | 0 | 1 | 1 | x\\|y |" in text
    assert "| rollback | 1 | rollback: `false` exited 1 |" in text
