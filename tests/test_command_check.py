from pathlib import Path

from tests.support.helpers import load, run


def test_command_passes_on_exit_zero_and_exposes_stdout(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          echo: {command: {run: "echo hello"}, expect: ["stdout contains 'hello'", "exit_code == 0"]}
    """, tmp_path)
    r = run(cfg)["echo"]
    assert r.status == "pass"
    assert r.observations["stdout"] == "hello\n"


def test_command_fails_with_nonzero_exit_naming_the_assertion(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          bad: {command: {run: ["sh", "-c", "exit 3"]}}
    """, tmp_path)
    r = run(cfg)["bad"]
    assert r.status == "fail"
    assert r.assertions[0].expr == "exit_code == 0"
    assert r.assertions[0].actual == 3


def test_command_timeout_is_an_error_and_kills_the_process(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          slow: {command: {run: "sleep 30"}, timeout: 300ms}
    """, tmp_path)
    r = run(cfg)["slow"]
    assert r.status == "error"
    assert "timed out" in r.summary


def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          nope: {command: {run: ["/nonexistent/tool"]}}
    """, tmp_path)
    r = run(cfg)["nope"]
    assert r.status == "error"
    assert "command not found" in r.summary


def test_parse_json_exposes_json_observation(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          j: {command: {run: "echo '{\\"lag_ms\\": 12}'", parse_json: true}, expect: ["json.lag_ms < 15m"]}
    """, tmp_path)
    r = run(cfg)["j"]
    assert r.status == "pass", r.summary
