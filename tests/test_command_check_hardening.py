"""The command check under hostile or careless commands: secrets in the environment, endless
output, failures that print no JSON (issue 10, findings 3, 13 and 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.support.helpers import load, run

ROOT = Path(__file__).resolve().parent.parent  # the checkout: `tests.support` imports from here


def test_a_command_check_does_not_inherit_variables_named_by_secret_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, hook, listed = (f"{what}-{uuid.uuid4().hex}" for what in ("tok", "hook", "listed"))
    monkeypatch.setenv("OPSBOOK_T_API_TOKEN", token)
    monkeypatch.setenv("OPSBOOK_T_HOOK_SECRET", hook)
    monkeypatch.setenv("OPSBOOK_T_LISTED", listed)
    monkeypatch.setenv("OPSBOOK_T_HARMLESS", "still-here")
    cfg = load("""
        api:
          tokens:
            ci: {token: {env: OPSBOOK_T_API_TOKEN}}
        notify:
          receivers:
            hook: {webhook: {url: "http://127.0.0.1:9/hook", secret: {env: OPSBOOK_T_HOOK_SECRET}}}
        checks:
          env:
            command: {run: env, env: {GIVEN: {env: OPSBOOK_T_LISTED}}}
    """, tmp_path)
    r = run(cfg)["env"]
    assert r.status == "pass", r.summary
    out = r.observations["stdout"]
    assert "OPSBOOK_T_API_TOKEN" not in out and "OPSBOOK_T_HOOK_SECRET" not in out
    assert token not in out and hook not in out
    assert "OPSBOOK_T_HARMLESS=still-here" in out  # the rest of the environment is kept
    # what the check lists under env: is passed (and its value still redacted in the result)
    assert "GIVEN=***" in out and listed not in out


def _run_big_command(tmp_path: Path, command: str, extra: str = "") -> dict[str, object]:
    """Run one command check in a fresh interpreter; its peak RSS (VmHWM) is the check's cost."""
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from tests.support.helpers import load, run
        cfg = load('''
        checks:
          big: {{command: {{run: {json.dumps(command)}{extra}}}}}
        ''', Path({str(tmp_path)!r}))
        r = run(cfg)["big"]
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        obs = {{k: v for k, v in r.observations.items() if k not in ("stdout", "stderr")}}
        print(json.dumps({{"status": r.status, "summary": r.summary, "obs": obs,
                          "stdout_len": len(r.observations.get("stdout", "")),
                          "stdout_end": r.observations.get("stdout", "")[-40:],
                          "hwm_kib": int(hwm.split()[1])}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, stdin=subprocess.DEVNULL, env=env)
    assert p.returncode == 0, p.stderr
    doc: dict[str, object] = json.loads(p.stdout)
    return doc


def test_a_command_printing_hundreds_of_megabytes_keeps_memory_bounded_and_reports_truncation(
    tmp_path: Path,
) -> None:
    size = 300_000_000
    doc = _run_big_command(tmp_path, f"head -c {size} /dev/zero; printf THE-END")
    assert doc["status"] == "pass", doc
    obs = doc["obs"]
    assert isinstance(obs, dict)
    assert obs["stdout_bytes"] == size + len("THE-END") and obs["truncated"] is True
    assert "output cut" in str(doc["summary"])
    # the first and last 64 KiB, and a line saying how much was left out between them
    assert isinstance(doc["stdout_len"], int) and doc["stdout_len"] < 140 * 1024
    assert str(doc["stdout_end"]).endswith("THE-END")
    # the old code held all 300 MB (and a copy) in memory
    assert isinstance(doc["hwm_kib"], int) and doc["hwm_kib"] < 150 * 1024, doc


def test_max_output_kills_the_command_at_the_cap(tmp_path: Path) -> None:
    doc = _run_big_command(tmp_path, "cat /dev/zero", ", max_output: 1MB")
    obs = doc["obs"]
    assert isinstance(obs, dict)
    assert doc["status"] == "fail", doc  # killed: exit_code is -9, so exit_code == 0 is false
    assert obs["exit_code"] == -9 and obs["truncated"] is True
    assert 1_000_000 < int(obs["stdout_bytes"]) < 1_000_000 + 1024 * 1024


def test_a_failing_command_with_parse_json_keeps_the_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    cfg = load("""
        checks:
          lag:
            command:
              run: "echo 'connecting...'; echo 'FATAL: role \\"monitor\\" does not exist' >&2; exit 4"
              parse_json: true
            expect: ["json.lag_ms < 1000"]
    """, tmp_path)
    r = run(cfg)["lag"]
    assert r.status == "error"
    assert "exited 4" in r.summary and "not JSON" in r.summary
    assert 'FATAL: role "monitor" does not exist' in r.summary
    assert r.error is not None
    assert r.error["exit_code"] == 4 and 'role "monitor"' in r.error["stderr"]
