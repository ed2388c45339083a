"""The CLI contract: exit codes, --json documents, errors without tracebacks, no secrets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.clirun import opsbook

CONFIG = """\
version: 1
store: {url: "sqlite:///%(dir)s/store.db"}
resources:
  db: {kind: postgres, dsn: "postgresql://app:pw-never-shown-42@127.0.0.1:1/app"}
checks:
  ok-cmd: {command: {run: "echo ready"}, expect: ["stdout contains 'ready'"]}
  bad-cmd: {command: {run: "echo degraded"}, expect: ["stdout contains 'ready'", "exit_code == 0"]}
  after-bad: {command: {run: "true"}, depends_on: [bad-cmd]}
  db-up: {postgres: {resource: db}, timeout: 3s}
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    p = tmp_path / "opsbook.yaml"
    p.write_text(text % {"dir": tmp_path} if "%(dir)s" in text else text)
    return p


def test_check_json_reports_every_assertion_with_actual_values(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    r = opsbook("check", "ok-cmd", "bad-cmd", "--json", "-c", str(cfg))
    assert r.code == 1, r.stderr
    doc = r.json
    assert doc["schema"] == "opsbook.check-run/1"
    by = {x["name"]: x for x in doc["results"]}
    assert by["ok-cmd"]["status"] == "pass" and by["ok-cmd"]["ok"] is True
    bad = by["bad-cmd"]
    assert bad["schema"] == "opsbook.check/1"
    assert bad["status"] == "fail"
    assert bad["assertions"][0] == {
        "expr": "stdout contains 'ready'", "ok": False, "actual": "degraded\n",
        "expected": "contains 'ready'", "severity": "fail",
        "message": "expected stdout contains 'ready', got 'degraded\\n'",
    }
    assert bad["assertions"][1]["ok"] is True
    for key in ("name", "kind", "status", "ok", "duration_ms", "summary", "hint", "observations", "assertions"):
        assert key in bad


def test_all_passing_exits_0(tmp_path: Path) -> None:
    r = opsbook("check", "ok-cmd", "-c", str(write(tmp_path)))
    assert r.code == 0, r.text
    assert "ok-cmd" in r.stdout


def test_dependent_of_failing_check_is_blocked_naming_root_cause(tmp_path: Path) -> None:
    r = opsbook("check", "after-bad", "--json", "-c", str(write(tmp_path)))
    by = {x["name"]: x for x in r.json["results"]}
    assert by["after-bad"]["status"] == "blocked"
    assert by["after-bad"]["blocked_by"] == "bad-cmd"
    assert "bad-cmd" in by["after-bad"]["summary"]


def test_malformed_config_exits_2_naming_the_key_without_traceback(tmp_path: Path) -> None:
    cfg = write(tmp_path, "checks:\n  api-ready:\n    command: {run: 'true'}\n    expect: ['exit_code ==']\n")
    r = opsbook("check", "-c", str(cfg))
    assert r.code == 2
    assert "checks.api-ready.expect[0]" in r.stderr
    assert "opsbook.yaml:4:" in r.stderr
    assert "Traceback" not in r.text


def test_malformed_config_with_json_gives_an_error_document(tmp_path: Path) -> None:
    cfg = write(tmp_path, "checks:\n  x: {command: {run: 'true'}, bogus: 1}\n")
    r = opsbook("config", "validate", "--json", "-c", str(cfg))
    assert r.code == 2
    assert r.json["error"]["errors"][0]["path"] == "checks.x.bogus"


def test_missing_config_file_exits_2_with_hint(tmp_path: Path) -> None:
    r = opsbook("check", "-c", str(tmp_path / "nope.yaml"))
    assert r.code == 2
    assert "opsbook init" in r.stderr


def test_unknown_check_name_is_a_usage_error(tmp_path: Path) -> None:
    r = opsbook("check", "no-such", "-c", str(write(tmp_path)))
    assert r.code == 2 and "no check named 'no-such'" in r.stderr


def test_dsn_password_never_appears_in_output_table_or_store(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    outputs = [
        opsbook("check", "db-up", "-c", str(cfg)),
        opsbook("check", "db-up", "--json", "-c", str(cfg)),
        opsbook("config", "show", "-c", str(cfg)),
        opsbook("config", "show", "--json", "-c", str(cfg)),
        opsbook("history", "db-up", "-c", str(cfg)),
    ]
    assert outputs[1].json["results"][0]["status"] == "error"
    for r in outputs:
        assert "pw-never-shown-42" not in r.text
    with sqlite3.connect(tmp_path / "store.db") as conn:
        for table in ("check_results", "check_state", "check_flips", "runs"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                assert "pw-never-shown-42" not in repr(row)


def test_results_and_flips_are_stored(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    opsbook("check", "ok-cmd", "-c", str(cfg))
    r = opsbook("history", "ok-cmd", "--json", "-c", str(cfg))
    assert r.code == 0
    assert r.json["results"][0]["status"] == "pass"
    assert r.json["flips"][0]["to"] == "pass"


def test_init_writes_a_valid_starter_referencing_env_vars(tmp_path: Path) -> None:
    r = opsbook("init", "--path", str(tmp_path / "o.yaml"), cwd=tmp_path,
                env={"DATABASE_URL": "postgresql://u:init-secret-9@h/db", "REDIS_URL": "redis://h:6379"})
    assert r.code == 0, r.text
    text = (tmp_path / "o.yaml").read_text()
    assert "{env: DATABASE_URL}" in text and "init-secret-9" not in text
    assert opsbook("config", "validate", "-c", str(tmp_path / "o.yaml")).code == 0
    assert opsbook("init", "--path", str(tmp_path / "o.yaml")).code == 2  # no silent overwrite


def test_unknown_store_is_could_not_run(tmp_path: Path) -> None:
    r = opsbook("check", "ok-cmd", "--store", "postgresql://x:storepw-1@127.0.0.1:1/x", "-c", str(write(tmp_path)))
    assert r.code == 3
    assert "storepw-1" not in r.text
