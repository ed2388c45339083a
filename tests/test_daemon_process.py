"""`opsbook serve` as real processes: replicas on one PostgreSQL store, kill -9 takeover, signals,
JSON logs, the self-heartbeat. Real time, kept short (checks every 1s, a 1s lease)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from opsbook.daemon import leases
from opsbook.store import Store
from tests.support.daemonutil import counting_server, serving, wait_for
from tests.support.pgutil import scratch_database


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def results(store: Store, name: str) -> list[datetime]:
    return sorted(r.started_at for r in store.history(name, limit=10000))


@pytest.mark.slow
def test_two_daemons_on_one_postgres_store_run_each_unit_once_and_take_over_a_killed_ones_lease(
        tmp_path: Path) -> None:
    with scratch_database() as dsn, counting_server(slow=1.5) as srv:
        cfg = write(tmp_path / "opsbook.yaml", f"""
            version: 1
            store: {{url: "{dsn}"}}
            resources:
              svc: {{kind: http, url: "{srv.url}"}}
            checks:
              fast: {{http: {{resource: svc, path: /fast}}, every: 1s}}
              slow: {{http: {{resource: svc, path: /slow}}, every: 1s, timeout: 10s}}
            serve: {{tick: 0.2s, lease: 1s, jitter: 0}}
        """)
        store = Store.open(dsn)
        try:
            with serving(cfg, "--no-web", name="a") as a, serving(cfg, "--no-web", name="b") as b:
                procs = {a.pid: a, b.pid: b}
                wait_for(lambda: len(results(store, "fast")) >= 5, 20, "five fast results", a.log)
                # the slow check runs 1.5 s under a 1 s lease: its owner keeps renewing it. Kill that owner.
                owner = wait_for(lambda: next((r.lease_owner for r in leases.rows(store)
                                               if r.name == "slow" and r.lease_owner), None), 10, "a slow lease")
                victim = procs[int(owner.split(":")[1])]
                survivor = b if victim is a else a
                victim.kill()
                killed_at = time.time()
                slow_before = srv.count("/slow")
                # once the lease expires (1 s) the survivor claims slow and runs it again
                wait_for(lambda: srv.count("/slow") > slow_before, 10, "the survivor to run slow", survivor.log)
                wait_for(lambda: any(t.timestamp() > killed_at for t in results(store, "slow")), 10,
                         "a slow result recorded by the survivor", survivor.log)
                time.sleep(1.5)
                survivor.signal(signal.SIGTERM)
                assert survivor.wait(20) == 0, survivor.log()
            fast = results(store, "fast")
            # each 1 s slot ran once: no two runs of fast closer than half an interval
            gaps = [(b2 - a2).total_seconds() for a2, b2 in itertools.pairwise(fast)]
            assert min(gaps) > 0.5, gaps
            # every recorded run is one request; the killed process may have had one request in flight
            assert 0 <= srv.count("/fast") - len(fast) <= 1
            span = (fast[-1] - fast[0]).total_seconds()
            assert len(fast) >= span - 2  # and no slot was skipped for long
            row = next(r for r in leases.rows(store) if r.name == "slow")
            assert row.lease_owner is None and row.runs >= 2
        finally:
            store.close()


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_when_invalid(tmp_path: Path) -> None:
    base = textwrap.dedent("""
        version: 1
        serve: {tick: 0.2s, jitter: 0}
        checks:
          a: {command: {run: "true"}, every: 1s}
    """)
    cfg = write(tmp_path / "opsbook.yaml", base)
    store_url = f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}"
    with serving(cfg, "--no-web") as s:
        wait_for(lambda: "ran " in s.log(), 15, "a first tick", s.log)
        write(cfg, base + '  b: {command: {run: "true"}, every: 1s}\n')
        s.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in s.log(), 10, "the reload", s.log)
        store = Store.open(store_url)
        try:
            wait_for(lambda: store.history("b", limit=5), 10, "the new check b to run", s.log)
            write(cfg, base.replace("every: 1s", "every: banana"))
            s.signal(signal.SIGHUP)
            wait_for(lambda: "reload failed" in s.log(), 10, "the reload error", s.log)
            log = s.log()
            assert "checks.a.every" in log and "keeping the previous config" in log
            before = len(store.history("b", limit=1000))
            wait_for(lambda: len(store.history("b", limit=1000)) > before + 1, 10, "b to keep running", s.log)
            assert s.proc.poll() is None
            s.signal(signal.SIGTERM)
            assert s.wait(15) == 0
        finally:
            store.close()


def test_sigterm_waits_for_the_run_in_flight_and_exits_0(tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    cfg = write(tmp_path / "opsbook.yaml", f"""
        version: 1
        checks:
          slowish: {{command: {{run: "sleep 1.5 && touch {marker}"}}, every: 1h}}
        serve: {{tick: 0.2s, jitter: 0}}
    """)
    store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
    try:
        with serving(cfg, "--no-web") as s:
            wait_for(lambda: any(r.name == "slowish" and r.lease_owner for r in leases.rows(store)), 15,
                     "the check to start", s.log)
            s.signal(signal.SIGTERM)
            assert s.wait(15) == 0, s.log()
            assert marker.exists()
            assert len(store.history("slowish")) == 1  # finished and recorded before exiting
            log = s.log()
            assert "SIGTERM: draining" in log and re.search(r"waiting for \d+ run\(s\) in flight", log)
            assert log.rstrip().endswith("stopped")
        assert leases.alive(store, datetime.now().astimezone(), 60) == []  # the instance row is removed
    finally:
        store.close()


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "opsbook.yaml", """
        version: 1
        checks:
          ok: {command: {run: "true"}}
          bad: {command: {run: "false"}}
        serve: {jitter: 0}
    """)
    with serving(cfg, "--json", "--once") as s:
        assert s.wait(30) == 0, s.log()
        lines = s.out.read_text().splitlines()
    docs = [json.loads(ln) for ln in lines]
    assert all({"ts", "level", "msg"} <= set(d) for d in docs)
    ran = next(d for d in docs if d["msg"].startswith("ran 2 checks (1 fail)"))
    assert ran["checks"] == 2 and ran["failed"] == 1


def test_the_self_heartbeat_url_receives_pings(tmp_path: Path) -> None:
    with counting_server() as srv:
        cfg = write(tmp_path / "opsbook.yaml", """
            version: 1
            checks:
              ok: {command: {run: "true"}, every: 1s}
            serve:
              tick: 0.2s
              self_heartbeat: {url: {env: HB_URL}, every: 0.3s}
        """)
        with serving(cfg, "--no-web", env={"HB_URL": f"{srv.url}/ping/abc123"}) as s:
            wait_for(lambda: srv.count("/ping/abc123") >= 3, 15, "three pings", s.log)
            assert "self-heartbeat: ok" in s.log()
            s.signal(signal.SIGTERM)
            assert s.wait(15) == 0
        n = srv.count("/ping/abc123")
        time.sleep(0.8)
        assert srv.count("/ping/abc123") == n  # a stopped opsbook stops pinging: that is the point


def test_serve_with_a_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = write(tmp_path / "opsbook.yaml", """
        version: 1
        serve: {timezone: Mars/Olympus}
    """)
    with serving(cfg, "--no-web") as s:
        assert s.wait(30) == 2
        assert "serve.timezone" in s.log() and "Mars/Olympus" in s.log()
    assert os.path.exists(cfg)


def test_serve_serves_the_dashboard_and_api_and_runs_a_check_now(tmp_path: Path) -> None:
    import httpx

    from tests.support.helpers import free_port

    port = free_port()
    cfg = write(tmp_path / "opsbook.yaml", """
        version: 1
        checks:
          ok: {command: {run: "true"}, every: 1h}
        api:
          tokens: {ci: {token: {env: OPS_TOKEN}, role: operator}}
        serve: {tick: 0.2s}
    """)
    auth = {"Authorization": "Bearer s3cret-token-value"}
    with serving(cfg, "--port", str(port), env={"OPS_TOKEN": "s3cret-token-value"}) as s:
        wait_for(lambda: f"dashboard http://127.0.0.1:{port}" in s.log(), 20, "the dashboard", s.log)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
        assert "(/metrics public: 127.0.0.1 is loopback)" in s.log()  # the start-up line says who reads it
        wait_for(lambda: "ran 1 check" in s.log(), 10, "the scheduled run", s.log)
        checks = httpx.get(f"{base}/api/v1/checks", headers=auth, timeout=5)
        assert checks.status_code == 200, checks.text
        assert "ok" in checks.text
        ran = httpx.post(f"{base}/api/v1/checks/ok/run", headers=auth, timeout=30)
        assert ran.status_code == 200, ran.text
        store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
        try:
            assert len(store.history("ok")) == 2  # the scheduled run and the one from the API
        finally:
            store.close()
        s.signal(signal.SIGTERM)
        assert s.wait(15) == 0, s.log()
        assert "s3cret-token-value" not in s.log()
