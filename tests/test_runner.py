"""The runner: retries within the deadline, dependencies, isolation of broken probes."""

from __future__ import annotations

from pathlib import Path

from tests.support.helpers import free_port, load, run


def test_retryable_errors_are_retried_and_counted(tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          down: {{tcp: {{host: 127.0.0.1, port: {free_port()}}}, retries: 2, timeout: 5s}}
    """, tmp_path)
    r = run(cfg)["down"]
    assert r.status == "error"
    assert r.attempts == 3


def test_timeout_bounds_all_attempts_together(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          slow: {command: {run: "sleep 5"}, retries: 5, timeout: 600ms}
    """, tmp_path)
    r = run(cfg)["slow"]
    assert r.status == "error"
    assert "timed out after 0.6s" in r.summary
    assert r.attempts == 1  # the deadline had passed: no retry starts after it


def test_a_non_retryable_error_is_not_retried(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          nope: {command: {run: ["/nonexistent/tool"]}, retries: 3}
    """, tmp_path)
    assert run(cfg)["nope"].attempts == 1


def test_blocked_names_the_root_cause_through_a_chain(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          db: {command: {run: "exit 1"}}
          api: {command: {run: "true"}, depends_on: [db]}
          web: {command: {run: "true"}, depends_on: [api]}
    """, tmp_path)
    res = run(cfg)
    assert res["db"].status == "fail"
    assert res["api"].blocked_by == "db"
    assert res["web"].blocked_by == "db"
    assert "db is failing (via api)" in res["web"].summary


def test_requesting_a_check_runs_its_dependencies_first(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          db: {command: {run: "true"}}
          api: {command: {run: "true"}, depends_on: [db]}
          other: {command: {run: "true"}}
    """, tmp_path)
    assert set(run(cfg, "api")) == {"db", "api"}


def test_warn_assertions_give_warn_which_is_still_ok(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          disk: {command: {run: "echo 85"}, expect: ["exit_code == 0"], warn: ["stdout < 80"]}
    """, tmp_path)
    r = run(cfg)["disk"]
    assert r.status == "warn" and r.ok
