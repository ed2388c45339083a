"""The ``wait`` step kind: polling an opsbook check or an assertion over a fresh GET."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.load import Config
from opsbook.errors import UsageError
from opsbook.runbooks.steps.registry import STEPS
from tests.support.helpers import free_port, load, serve_app
from tests.support.steputil import Emitted, render, run, step

# passes on its third run: a counter file in the config's directory
COUNTER = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 3'

HITS = {"n": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Not ready (503) for the first two requests, then ready."""
    HITS["n"] += 1
    ready = HITS["n"] >= 3
    await send({"type": "http.response.start", "status": 200 if ready else 503,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"ready": ready}).encode()})


@pytest.fixture
def server() -> Iterator[str]:
    HITS["n"] = 0
    with serve_app(app) as url:
        yield url


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return load(f"""
        checks:
          warming: {{command: {{run: '{COUNTER}'}}}}
          never: {{command: {{run: "false"}}}}
    """, tmp_path)


def test_wait_polls_a_check_until_it_passes_within_the_deadline(cfg: Config) -> None:
    emitted = Emitted()
    r, out = run(cfg, step("wait", "", check="warming", interval="50ms"), timeout=60, emit=emitted)
    assert r.read_only and r.target == "check warming"
    assert out.error is None
    assert out.observations["met"] is True
    assert out.observations["attempts"] == 3
    assert out.observations["last"]["status"] == "pass"
    assert emitted.text.count("not yet") == 2


def test_a_wait_that_is_never_met_stops_at_its_deadline(cfg: Config) -> None:
    # the deadline may cut the final attempt short: the last finished attempt is what is reported
    _, out = run(cfg, step("wait", "", check="never", interval="100ms"), timeout=2)
    assert out.observations["met"] is False
    assert out.observations["attempts"] >= 1
    assert out.observations["last"]["status"] == "fail"
    assert STEPS["wait"].default_expect == ("met == true",)


def test_wait_polls_a_url_until_its_assertion_holds(cfg: Config, server: str) -> None:
    s = step("wait", "status == 200 and json.ready == true; env == 'staging'", url=f"{server}/ready",
             interval="50ms")
    r, out = run(cfg, s, {"env": "staging"}, timeout=60)
    assert r.read_only and f"GET {server}/ready" in r.display
    assert out.observations["met"] is True and out.observations["attempts"] == 3
    assert out.observations["last"]["status"] == 200


def test_an_unreachable_url_is_not_met_and_not_an_exception(cfg: Config) -> None:
    s = step("wait", "status == 200", url=f"http://127.0.0.1:{free_port()}/", interval="100ms")
    _, out = run(cfg, s, timeout=1)
    assert out.observations["met"] is False
    assert "failed" in out.observations["last"]["error"]


def test_an_assertion_over_values_alone_is_checked_once(cfg: Config) -> None:
    _, out = run(cfg, step("wait", "count >= 3", interval="5s"), {"count": "5"}, timeout=30)
    assert out.observations["met"] is True and out.observations["attempts"] == 1


def test_an_unknown_check_is_refused_with_did_you_mean(cfg: Config) -> None:
    with pytest.raises(UsageError, match="did you mean 'warming'"):
        render(cfg, step("wait", "", check="warmnig"))


def test_a_wait_needs_a_check_or_an_assertion(cfg: Config) -> None:
    with pytest.raises(UsageError, match="check=NAME or an assertion"):
        render(cfg, step("wait", ""))
    with pytest.raises(UsageError):
        render(cfg, step("wait", "status =="))
    assert STEPS["wait"].lint(step("wait", "status ==")) != []
