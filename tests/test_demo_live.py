"""The live part of `opsbook demo`: the daemon and dashboard against the sample service, a fault,
an alert that fires, notifies (file receiver) and resolves; Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from opsbook.config.load import load_config
from opsbook.demo.live import FAST
from opsbook.demo.run import write_config
from opsbook.plugins import PLUGINS


def test_the_demo_config_has_an_alert_a_file_receiver_and_a_fast_pace(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "opsbook.yaml", 12345, FAST), PLUGINS)
    assert cfg.model.alerts["api-not-ready"].when == "check api-ready failing"
    assert cfg.model.alerts["api-not-ready"].for_ == 2
    assert cfg.checks["api-ready"].every == 1
    assert cfg.model.notify.receivers["demo-file"].file is not None
    assert cfg.model.serve.rules_every == 0.5


@pytest.mark.slow
def test_demo_serve_fires_notifies_resolves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    work = tmp_path / "work"
    out = tmp_path / "demo.out"
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsbook", "demo", "--no-tour", "--serve", "--fast", "--fault-after", "1s",
             "--duration", "60s", "--workdir", str(work)],
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 90
        while "resolve notification is in" not in out.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        text = out.read_text()
        dash = re.search(r"dashboard:\s+(http://127\.0\.0\.1:\d+)/", text)
        assert dash, text
        assert httpx.get(f"{dash.group(1)}/status", timeout=5).status_code == 200
        service = re.search(r"sample service on (http://127\.0\.0\.1:\d+)", text)
        assert service
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(30) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.read_text()
    assert "pass -> fail" in text and "fail -> pass" in text
    assert "stopped opsbook serve (exit 0)" in text and "stopped the sample service" in text
    notes = [json.loads(ln) for ln in (work / "notifications.jsonl").read_text().splitlines()]
    statuses = [n["status"] for n in notes if n["kind"] != "acknowledge"]
    assert statuses[0] == "firing" and "resolved" in statuses[statuses.index("firing"):]
    assert all("api-not-ready" in json.dumps(n["group_labels"]) or "api-not-ready" in json.dumps(n["alerts"])
               for n in notes)
    for url in (dash.group(1), service.group(1)):  # nothing is left running
        try:
            httpx.get(url, timeout=1)
            raise AssertionError(f"{url} still answers")
        except httpx.HTTPError:
            pass
