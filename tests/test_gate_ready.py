import asyncio
import time
from pathlib import Path

import pytest

from opsbook.checks.registry import KINDS
from opsbook.config.load import Config
from opsbook.errors import UsageError
from opsbook.ops.gate import GateResult, wait_ready
from opsbook.results import CheckResult
from tests.support.clirun import opsbook
from tests.support.demo_service import demo_service
from tests.support.helpers import load


class FakeTime:
    """A clock that only moves when the gate sleeps; ``on_sleep`` lets a test act mid-wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def file_check(tmp_path: Path) -> Config:
    return load("""
        checks:
          flag: {command: {run: "test -f flag"}, expect: ["exit_code == 0"]}
          other: {command: {run: "true"}}
    """, tmp_path)


def gate(cfg: Config, names: list[str], timeout: float, interval: float, t: FakeTime,
         on_attempt: object = None) -> GateResult:
    return asyncio.run(wait_ready(cfg, KINDS, names, timeout, interval,
                                  on_attempt=on_attempt,  # type: ignore[arg-type]
                                  clock=t.clock, sleep=t.sleep))


def test_gate_passes_at_once_when_everything_is_ready(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    t = FakeTime()
    r = gate(file_check(tmp_path), [], 30, 5, t)
    assert r.ok and r.exit_code == 0 and r.attempts == 1 and t.sleeps == []
    assert {x.name for x in r.results} == {"flag", "other"}


def test_gate_polls_until_ready_with_injected_clock(tmp_path: Path) -> None:
    t = FakeTime()
    seen: list[tuple[int, list[str]]] = []

    def on_attempt(n: int, results: list[CheckResult]) -> None:
        seen.append((n, [x.status for x in results]))
        if n == 3:
            (tmp_path / "flag").touch()  # the service "comes up" during the third wait

    r = gate(file_check(tmp_path), ["flag"], 150, 5, t, on_attempt)
    assert r.ok and r.attempts == 4
    assert t.sleeps == [5, 5, 5]
    assert r.waited_ms == 15_000
    assert seen[0] == (1, ["fail"]) and seen[-1] == (4, ["pass"])


def test_ready_gate_exits_1_when_the_deadline_passes_first(tmp_path: Path) -> None:
    t = FakeTime()
    r = gate(file_check(tmp_path), ["flag"], 12, 5, t)
    assert not r.ok and r.exit_code == 1
    # 0, 5, 10, then a shortened wait that lands exactly on the deadline: never past it
    assert t.sleeps == [5, 5, 2]
    assert sum(t.sleeps) == 12
    assert r.attempts == 4
    d = r.to_dict()
    assert d["schema"] == "opsbook.gate/1" and d["gate"] == "ready"
    assert d["failing"] == ["flag"] and d["timeout_s"] == 12 and d["interval_s"] == 5
    assert d["results"][0]["assertions"][0]["expr"] == "exit_code == 0"
    assert "still failing: flag" in r.summary


def test_unknown_check_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no check named 'nope'"):
        gate(file_check(tmp_path), ["nope"], 1, 1, FakeTime())


def test_ready_gate_waits_for_a_service_that_becomes_ready(tmp_path: Path) -> None:
    with demo_service(tmp_path, ready_after=2.0) as svc:
        cfg = load(f"""
            resources:
              api: {{kind: http, url: "{svc.url}"}}
            checks:
              api-ready:
                http: {{resource: api, path: /readyz}}
                expect: ["status == 200", "json.status == 'ready'"]
        """, tmp_path)
        attempts: list[int] = []
        t0 = time.monotonic()
        r = asyncio.run(wait_ready(cfg, KINDS, ["api-ready"], timeout=10, interval=0.5,
                                   on_attempt=lambda n, _: attempts.append(n)))
        elapsed = time.monotonic() - t0
    assert r.ok, r.summary
    assert r.attempts >= 2 and attempts == list(range(1, r.attempts + 1))
    assert elapsed >= 1.0  # it did wait for the service


def test_real_time_deadline_is_respected(tmp_path: Path) -> None:
    with demo_service(tmp_path, ready_after=60) as svc:
        cfg = load(f"""
            checks:
              api-ready: {{http: {{url: "{svc.url}/readyz"}}, expect: ["status == 200"]}}
        """, tmp_path)
        t0 = time.monotonic()
        r = asyncio.run(wait_ready(cfg, KINDS, ["api-ready"], timeout=1.2, interval=0.5))
        elapsed = time.monotonic() - t0
    assert not r.ok
    assert r.results[0].assertions[0].actual == 503
    assert elapsed >= 1.2


def test_cli_gate_waits_about_ten_seconds_for_readiness_then_exits_0(tmp_path: Path) -> None:
    with demo_service(tmp_path, ready_after=10.0) as svc:
        cfg = tmp_path / "opsbook.yaml"
        cfg.write_text(f"""
checks:
  api-ready: {{http: {{url: "{svc.url}/readyz"}}, expect: ["status == 200", "json.status == 'ready'"]}}
""")
        r = opsbook("gate", "ready", "api-ready", "--timeout", "60s", "--interval", "1s", "--json",
                    "-c", str(cfg))
    assert r.code == 0, r.text
    doc = r.json
    assert doc["schema"] == "opsbook.gate/1" and doc["ok"] is True
    assert doc["attempts"] > 3
    assert doc["waited_ms"] >= 5000


def test_cli_gate_exits_1_when_the_deadline_passes_first(tmp_path: Path) -> None:
    with demo_service(tmp_path, ready_after=120.0) as svc:
        cfg = tmp_path / "opsbook.yaml"
        cfg.write_text(f"""
checks:
  api-ready: {{http: {{url: "{svc.url}/readyz"}}, expect: ["status == 200"]}}
""")
        r = opsbook("gate", "ready", "api-ready", "--timeout", "2s", "--interval", "500ms",
                    "-c", str(cfg))
    assert r.code == 1
    assert "not ready" in r.stdout
    assert "status == 200" in r.stdout and "503" in r.stdout
