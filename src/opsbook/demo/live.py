"""The live part of ``opsbook demo``: `opsbook serve` (scheduler + dashboard) against the sample
service, a fault injected after a while, and the alert that fires, notifies and resolves.

The daemon is the real CLI in a subprocess (its log goes to ``serve.log`` in the work directory);
this module only narrates: it watches the store for the check's flips and the file receiver's
JSON lines for notifications.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ..store import Store

# --fast: what the bounded (CI, tests) run uses instead of demo.yaml's pace
FAST = {"every": "1s", "alert_for": "2s", "rules_every": "0.5s", "group_interval": "1s"}
CHECK = "api-ready"
ALERT = "api-not-ready"


def _say(text: str = "") -> None:
    with contextlib.suppress(OSError):  # the terminal went away (SIGHUP): keep cleaning up regardless
        print(text, flush=True)


class Watch:
    """What has happened so far: flips of the check, notification lines in the file."""

    def __init__(self, store_url: str, notifications: Path) -> None:
        self.store_url = store_url
        self.file = notifications
        self.seen_flips = 0
        self.seen_lines = 0
        self.notifications: list[dict[str, Any]] = []

    def poll(self) -> None:
        store = Store.open(self.store_url, migrate=False)
        try:
            flips = list(reversed(store.flips(CHECK, limit=100)))
        except Exception:
            flips = []  # the daemon may not have created the tables yet
        finally:
            store.close()
        for f in flips[self.seen_flips:]:
            if f.from_status is not None:
                _say(f"   {f.at:%H:%M:%S} the daemon saw {CHECK} go {f.from_status} -> {f.to_status}: {f.summary}")
        self.seen_flips = len(flips)
        if self.file.exists():
            lines = [ln for ln in self.file.read_text().splitlines() if ln.strip()]
            for ln in lines[self.seen_lines:]:
                doc = json.loads(ln)
                self.notifications.append(doc)
                _say(f"   {time.strftime('%H:%M:%S')} notification [{str(doc.get('status', '?')).upper()}] "
                     f"{doc.get('title') or doc.get('group_labels')} -> {self.file.name}")
            self.seen_lines = len(lines)

    def has(self, status: str) -> bool:
        return any(n.get("status") == status and n.get("kind") != "acknowledge" for n in self.notifications)


def wait_until(pred: Callable[[], bool], timeout: float, watch: Watch, daemon: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch.poll()
        if pred():
            return True
        if daemon.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def start_daemon(config: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    log = (work / "serve.log").open("wb")
    # its own session: Ctrl-C reaches us, and we stop the daemon in order (SIGTERM: it drains)
    proc = subprocess.Popen([sys.executable, "-m", "opsbook", "serve", "--config", str(config), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True,
                            env={**os.environ, "NO_COLOR": "1"})
    log.close()
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def run_live(config: Path, work: Path, service_url: str, dash_port: int, *, fault_after: float,
             linger: float | None, fast: bool, set_fault: Callable[[str, str], None],
             shown: Callable[[Path], str]) -> bool:
    """Start the daemon, break the service after ``fault_after`` s, watch the alert fire and resolve.
    ``linger``: seconds to keep everything running afterwards (None: until Ctrl-C). True when the
    firing and the resolved notifications both arrived."""
    notifications = work / "notifications.jsonl"
    notifications.unlink(missing_ok=True)
    store_url = f"sqlite:///{work / '.opsbook' / 'opsbook.db'}"
    dash = f"http://127.0.0.1:{dash_port}"
    _say()
    _say("== Run opsbook as a daemon: scheduler + dashboard")
    _say(f"$ opsbook serve --config {shown(config)} --port {dash_port}")
    daemon = start_daemon(config, work, dash_port)
    ok = False
    try:
        if not wait_http(f"{dash}/status", daemon):
            _say(f"   the daemon did not start; see {shown(work / 'serve.log')}")
            return False
        _say(f"   dashboard:     {dash}/   (read-only without logging in: api.anonymous: viewer)")
        _say(f"   status page:   {dash}/status     metrics: {dash}/metrics")
        _say(f"   daemon log:    {shown(work / 'serve.log')}")
        _say(f"   notifications: {shown(notifications)} (the file receiver in notify:)")
        pace = FAST if fast else {"every": "5s", "alert_for": "15s", "rules_every": "5s"}
        _say(f"   {CHECK} runs every {pace['every']}; alert {ALERT} fires after it fails for {pace['alert_for']}")
        watch = Watch(store_url, notifications)
        _say()
        _say(f"== In {fault_after:g}s the database 'goes down' (watch the dashboard)")
        wait_until(lambda: False, fault_after, watch, daemon)
        if daemon.poll() is not None:
            _say(f"   the daemon exited; see {shown(work / 'serve.log')}")
            return False
        set_fault(service_url, "down")
        budget = 60 if fast else 180
        if not wait_until(lambda: watch.has("firing"), budget, watch, daemon):
            _say(f"   no firing notification after {budget}s; see {shown(work / 'serve.log')}")
            return False
        _say(f"   the alert fired and was delivered: {shown(notifications)}")
        _say()
        _say("== Repair the service: the alert resolves")
        set_fault(service_url, "none")
        if not wait_until(lambda: watch.has("resolved"), budget, watch, daemon):
            _say(f"   no resolved notification after {budget}s; see {shown(work / 'serve.log')}")
            return False
        _say(f"   resolved, and the resolve notification is in {shown(notifications)} too")
        ok = True
        try:
            if linger is None:
                _say()
                _say(f"opsbook serve keeps running: {dash}/  — break the service again with")
                _say(f"  $ curl -X POST {service_url}/admin/fault -d '{{\"mode\": \"down\"}}'")
                _say("press Ctrl-C to stop")
                while daemon.poll() is None:
                    watch.poll()
                    time.sleep(0.5)
            elif linger > 0:
                wait_until(lambda: False, linger, watch, daemon)
        except KeyboardInterrupt:  # the demo has shown everything: stopping now is a success
            _say()
    finally:
        stop_daemon(daemon)
        _say(f"stopped opsbook serve (exit {daemon.returncode})")
    return ok
