"""The ``opsbook`` step kind: opsbook itself as a child process, on the run's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.config.secrets import REDACTED
from opsbook.errors import UsageError
from opsbook.runbooks.steps.opsbook_cmd import read_only
from opsbook.runbooks.steps.registry import STEPS
from tests.support.helpers import load
from tests.support.steputil import render, run, step

CONFIG = """
checks:
  ok: {command: {run: "true"}}
  sees-secret:
    command: {run: 'test "$X" = "child-secret-9911"', env: {X: {env: RBS_CHILD_SECRET}}}
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("RBS_CHILD_SECRET", "child-secret-9911")
    (tmp_path / "opsbook.yaml").write_text(CONFIG)
    return load(CONFIG, tmp_path)


def test_a_check_runs_in_a_child_on_the_runs_config_and_gives_json(cfg: Config) -> None:
    r, out = run(cfg, step("opsbook", "check ${which} --json"), {"which": "ok"}, timeout=60)
    assert r.read_only and r.display == "opsbook check ok --json"
    assert out.error is None and out.observations["exit_code"] == 0, out.output
    assert out.observations["json"] is not None
    assert "ok" in out.observations["stdout"]


def test_the_child_resolves_the_secrets_its_config_references(cfg: Config) -> None:
    # the check passes only if opsbook-the-child could read RBS_CHILD_SECRET; the value is never shown
    _, out = run(cfg, step("opsbook", "check sees-secret"), timeout=60)
    assert out.observations["exit_code"] == 0, out.output
    assert "child-secret-9911" not in out.output


def test_a_failing_command_gives_its_exit_code(cfg: Config) -> None:
    _, out = run(cfg, step("opsbook", "check no-such-check"), timeout=60)
    assert out.observations["exit_code"] == 2
    assert "no-such-check" in out.output


def test_a_secret_argument_is_masked_in_the_display(cfg: Config) -> None:
    r = render(cfg, step("opsbook", "incident note 7 'rotated ${key}'"), {"key": "k3y-value-00"}, frozenset({"key"}))
    assert "k3y-value-00" not in r.display and REDACTED in r.display


def test_serve_and_demo_cannot_be_steps(cfg: Config) -> None:
    for cmd in ("serve", "opsbook demo"):
        with pytest.raises(UsageError, match="cannot be a step"):
            render(cfg, step("opsbook", cmd))


def test_reading_commands_are_read_only_and_the_others_are_not() -> None:
    for line in ("check db", "gate ready api --timeout 150s", "backup list", "incident show 3", "slo status",
                 "status", "config validate", "heartbeats status", "runbook lint"):
        assert read_only(line.split()), line
    for line in ("backup run nightly", "incident resolve 3", "status notice 'x'", "alerts ack a", "ping x"):
        assert not read_only(line.split()), line


def test_lint_flags_a_mutating_subcommand_without_mutates() -> None:
    kind = STEPS["opsbook"]
    assert any("backup run" in w for w in kind.lint(step("opsbook", "backup run nightly")))
    assert kind.lint(step("opsbook", "backup run nightly", mutates="true")) == []
    assert kind.lint(step("opsbook", "check db")) == []
