"""Staged canary rollouts against a real JSON endpoint on 127.0.0.1: steps set the weight with a
command and a webhook and are recorded with their exit codes, a failing step command or metric rolls
back, a failing rollback command is exit 1 and loud, and the http_json provider reads numbers (and
lists of them) with the assertion language's names. Also the sample service's degraded mode."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsbook.ops import canary
from opsbook.store import Store, rollouts
from tests.support.clirun import opsbook
from tests.support.demo_service import demo_service
from tests.support.helpers import load


class Stats:
    """Two targets' /stats documents (changed by the tests) and the webhook calls received."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {"canary": {"errors": {"rate": 0.0}, "latency": [10.0] * 20},
                                     "baseline": {"errors": {"rate": 0.0}, "latency": [10.0] * 20}}
        self.hooks: list[Any] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Stats]]:
    state = Stats()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # /canary/stats, /baseline/stats
            who = self.path.strip("/").split("/")[0]
            if who in state.docs:
                self._send(200, state.docs[who])
            else:
                self._send(404, {"error": "no such target"})

        def do_PUT(self) -> None:
            state.hooks.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self._send(200, {"ok": True})

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


CONFIG = """
canaries:
  api:
    canary: "{url}/canary"
    baseline: "{url}/baseline"
    analysis: {{interval: 0.1s, count: 2}}
    metrics:
      errors:
        provider: http_json
        path: /stats
        value: errors.rate
        success_condition: result < 0.01
        consecutive_error_limit: 0
      latency:
        provider: http_json
        path: /stats
        value: latency
        compare: {{direction: increase, tolerance: 0.25, min_samples: 20}}
        critical: true
    steps:
      - {{weight: 10, run: "echo ${{weight}} >> weights.txt"}}
      - {{analysis: 0.2s}}
      - {{weight: 50, webhook: {{url: "{url}/weights", method: PUT, body: {{canary: "${{weight}}"}}}}}}
      - {{analysis: 0.2s}}
    promote: "echo promoted ${{canary_url}} > promoted.txt"
    rollback: "{rollback}"
"""


def run(tmp_path: Path, url: str, rollback: str = "echo rolled back > rolled-back.txt",
        **edits: str) -> tuple[canary.CanaryReport, Store]:
    text = CONFIG.format(url=url, rollback=rollback)
    for old, new in edits.items():
        text = text.replace(old, new)
    cfg = load(text, tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    return canary.run(cfg, store, "api"), store


def test_steps_set_the_weight_in_order_and_a_healthy_canary_is_promoted(server: tuple[str, Stats],
                                                                         tmp_path: Path) -> None:
    url, state = server
    report, store = run(tmp_path, url)
    try:
        with store.read() as tx:
            events = rollouts.events(tx, report.rollout_id)
            taken = rollouts.measurements(tx, report.rollout_id)
    finally:
        store.close()
    assert report.status == "promoted" and report.exit_code == 0, report.reason
    assert (tmp_path / "weights.txt").read_text() == "10\n"
    assert state.hooks == [{"canary": "50"}]
    assert (tmp_path / "promoted.txt").read_text() == f"promoted {url}/canary\n"
    assert [(e.kind, e.exit_code) for e in events] == [
        ("step", None), ("command", 0), ("decision", None), ("step", None), ("command", 0), ("decision", None),
        ("promote", 0)]
    assert {m.step for m in taken} == {2, 4}  # the analysis steps
    assert [a["step"] for a in report.analyses] == [2, 4]


def test_a_failing_step_command_rolls_back_before_any_analysis(server: tuple[str, Stats], tmp_path: Path) -> None:
    url, _ = server
    report, store = run(tmp_path, url, **{'run: "echo ${weight} >> weights.txt"': 'run: "exit 7"'})
    store.close()
    assert report.status == "rolled_back" and "exit 7" in report.reason
    assert report.analyses == []
    assert (tmp_path / "rolled-back.txt").read_text() == "rolled back\n"


def test_an_error_rate_past_the_condition_rolls_back_in_the_first_analysis(server: tuple[str, Stats],
                                                                          tmp_path: Path) -> None:
    url, state = server
    state.docs["canary"]["errors"]["rate"] = 0.05
    report, store = run(tmp_path, url)
    store.close()
    assert report.status == "rolled_back" and "success_condition not met" in report.reason
    assert state.hooks == []  # the second step never ran
    assert (tmp_path / "rolled-back.txt").exists() and not (tmp_path / "promoted.txt").exists()


def test_a_list_of_numbers_is_compared_sample_by_sample(server: tuple[str, Stats], tmp_path: Path) -> None:
    url, state = server
    state.docs["canary"]["latency"] = [20.0 + i / 10 for i in range(20)]
    state.docs["baseline"]["latency"] = [10.0 + i / 10 for i in range(20)]
    report, store = run(tmp_path, url)
    store.close()
    assert report.status == "rolled_back"
    latency = report.analyses[0]["score"]["comparisons"]["latency"]
    assert latency["verdict"] == "fail" and latency["n_canary"] == 40 and latency["shift"] == pytest.approx(10.0)


def test_a_missing_value_is_a_measurement_error_not_a_pass(server: tuple[str, Stats], tmp_path: Path) -> None:
    url, state = server
    del state.docs["canary"]["errors"]
    report, store = run(tmp_path, url)
    store.close()
    assert report.status == "could_not_measure" and report.exit_code == 3
    assert "no errors.rate in the answer" in report.reason
    assert not (tmp_path / "rolled-back.txt").exists()


def test_a_failing_rollback_command_is_exit_1_recorded_and_loud(server: tuple[str, Stats], tmp_path: Path) -> None:
    url, state = server
    state.docs["canary"]["errors"]["rate"] = 0.5
    (tmp_path / "opsbook.yaml").write_text(CONFIG.format(url=url, rollback="echo cannot reach fly >&2; exit 3"))
    got = opsbook("gate", "canary", "api", "--json", cwd=tmp_path)
    assert got.code == 1
    assert "ROLLBACK FAILED" in got.stderr
    doc = got.json
    assert doc["status"] == "rolled_back" and doc["rollback_failed"] is True
    assert [(c["kind"], c["exit_code"]) for c in doc["commands"]][-1] == ("rollback", 3)
    assert "cannot reach fly" in doc["commands"][-1]["output"]


def test_the_degraded_mode_answers_the_given_share_with_500_and_150ms_slower(tmp_path: Path) -> None:
    with demo_service(tmp_path) as svc, httpx.Client(timeout=10) as client:
        assert client.post(svc.url + "/admin/fault", json={"mode": "degraded", "rate": 2}).status_code == 400
        client.post(svc.url + "/admin/fault", json={"mode": "degraded", "rate": 0.05})
        codes = []
        t0 = time.perf_counter()
        for _ in range(40):
            codes.append(client.get(svc.url + "/health").status_code)
        per_request = (time.perf_counter() - t0) / 40
    assert codes.count(500) == 2 and codes.count(200) == 38
    assert per_request >= 0.15


def test_a_failing_promote_command_is_exit_1_and_not_recorded_as_promoted(server: tuple[str, Stats],
                                                                          tmp_path: Path) -> None:
    url, _ = server
    report, store = run(tmp_path, url, **{'promote: "echo promoted ${canary_url} > promoted.txt"': 'promote: "exit 5"'})
    with store.read() as tx:
        row = rollouts.get(tx, report.rollout_id)
    store.close()
    assert report.exit_code == 1 and report.promote_failed and not report.rollback_failed
    assert row is not None and row.status == "aborted" and "promote command failed (exit 5)" in row.reason


def test_an_unknown_provider_error_is_a_measurement_error_and_the_record_is_finished(
        server: tuple[str, Stats], tmp_path: Path) -> None:
    url, state = server
    state.docs["canary"]["errors"]["rate"] = {"not": "a number"}
    report, store = run(tmp_path, url)
    with store.read() as tx:
        row = rollouts.get(tx, report.rollout_id)
    store.close()
    assert report.status == "could_not_measure" and "not a number" in report.reason
    assert row is not None and row.finished_at is not None
