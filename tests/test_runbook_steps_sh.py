"""The ``sh`` step kind (and ``approval``): real subprocesses, called without a runner."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.config.secrets import REDACTED
from opsbook.errors import UsageError
from opsbook.runbooks.steps.base import HEAD, TAIL, StepContext
from opsbook.runbooks.steps.registry import STEPS
from tests.support.helpers import load
from tests.support.steputil import Emitted, gone, kill_quietly, render, run, step


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return load("checks: {}\n", tmp_path)


def test_a_step_reports_exit_code_stdout_stderr_and_json(cfg: Config) -> None:
    _, out = run(cfg, step("sh", "echo '{\"version\": 3}'; echo warning >&2"))
    assert out.error is None
    assert out.observations["exit_code"] == 0
    assert out.observations["json"] == {"version": 3}
    assert out.observations["stderr"] == "warning\n"
    assert "warning" in out.output and "version" in out.output
    assert out.observations["duration"] >= 0


def test_the_script_stops_at_the_first_failing_command(cfg: Config) -> None:
    _, out = run(cfg, step("sh", "echo before\nfalse\necho after"))
    assert out.observations["exit_code"] == 1
    assert "before" in out.observations["stdout"] and "after" not in out.observations["stdout"]


def test_bash_runs_with_pipefail(cfg: Config) -> None:
    _, out = run(cfg, step("sh", "false | true\necho after", shell="bash"))
    assert out.observations["exit_code"] == 1


def test_the_step_runs_in_the_configs_directory(cfg: Config, tmp_path: Path) -> None:
    _, out = run(cfg, step("sh", "pwd -P"))
    assert out.observations["stdout"].strip() == str(tmp_path.resolve())


def test_a_step_that_hangs_is_killed_at_its_timeout_with_its_children(cfg: Config, tmp_path: Path) -> None:
    body = "sleep 300 &\necho $! > child.pid\nsh -c 'trap \"\" TERM; echo $$ > stubborn.pid; sleep 300'\n"
    _, out = run(cfg, step("sh", body), timeout=1.5)
    child = int((tmp_path / "child.pid").read_text())
    stubborn = int((tmp_path / "stubborn.pid").read_text())
    try:
        assert out.timed_out
        assert out.error is not None and "timed out" in out.error
        assert gone(child), "the background child survived the step's timeout"
        assert gone(stubborn), "a child ignoring SIGTERM survived: SIGKILL must follow"
    finally:
        kill_quietly(child)
        kill_quietly(stubborn)


def test_a_step_writing_far_more_than_it_keeps_holds_only_head_and_tail(cfg: Config) -> None:
    # 64 MiB here (bench/runbooks.py measures a whole GiB): the suite's workers have registered
    # hundreds of test secrets with the process-wide redactor, which every chunk passes through
    gib = 1 << 26
    emitted = Emitted(keep=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    _, out = run(cfg, step("sh", f"yes opsbook | head -c {gib}"), timeout=300, emit=emitted)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.observations["exit_code"] == 0
    assert out.output_bytes == gib
    assert out.observations["stdout_bytes"] == gib
    assert emitted.total == gib  # streamed in full to the live view
    assert len(out.output.encode()) <= HEAD + TAIL + 100  # plus the "bytes omitted" marker
    assert f"[... {gib - HEAD - TAIL} bytes omitted ...]" in out.output
    assert out.output.startswith("opsbook\n") and out.output.endswith("opsbook\n")
    assert out.observations["json"] is None
    assert grown_mib < 40, f"peak memory grew by {grown_mib:.0f} MiB"  # keeping it all: over 64


def test_secret_values_reach_the_child_but_never_the_display_or_output(cfg: Config) -> None:
    secret = "tok-5ecret-value-81"
    values = {"TOKEN": secret, "region": "eu-1"}
    body = 'echo "using ${TOKEN} in ${region}"\nprintf %s "$TOKEN" > got\n'
    emitted = Emitted()
    r, out = run(cfg, step("sh", body), values, frozenset({"TOKEN"}), emit=emitted)
    assert secret not in r.display and f"using {REDACTED} in eu-1" in r.display
    assert (cfg.base_dir / "got").read_text() == secret
    for shown in (out.output, out.observations["stdout"], emitted.text):
        assert secret not in shown
        assert f"using {REDACTED} in eu-1" in shown


def test_the_child_does_not_inherit_opsbook_secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBS_TEST_DB_PASSWORD", "db-pass-in-env-7731")
    monkeypatch.setenv("RBS_TEST_UNRELATED", "just-a-variable")
    cfg = load("""
        resources:
          db: {kind: postgres, dsn: {env: RBS_TEST_DB_PASSWORD}}
    """, tmp_path)
    _, out = run(cfg, step("sh", "env"), {"target": "blue"})
    names = {line.split("=", 1)[0] for line in out.observations["stdout"].splitlines()}
    assert "RBS_TEST_DB_PASSWORD" not in names
    assert "RBS_TEST_UNRELATED" not in names  # a minimal environment, not ours minus secrets
    assert "db-pass-in-env-7731" not in out.output
    assert {"PATH", "target"} <= names


def test_an_unmarked_step_is_mutating_and_only_mutates_false_lets_dry_run_run_it(cfg: Config) -> None:
    assert not render(cfg, step("sh", "ls")).read_only
    assert not render(cfg, step("sh", "ls", mutates="true")).read_only
    assert render(cfg, step("sh", "ls", mutates="false")).read_only


def test_lint_flags_an_unmarked_step_that_looks_mutating() -> None:
    kind = STEPS["sh"]
    assert any("rm" in w for w in kind.lint(step("sh", "cd /srv && rm -rf cache")))
    assert any("kubectl scale" in w for w in kind.lint(step("sh", "kubectl scale deploy/web --replicas=5")))
    assert kind.lint(step("sh", "rm -rf cache", mutates="true")) == []
    assert kind.lint(step("sh", "df -h")) == []


def test_an_unknown_shell_is_refused_naming_the_step(cfg: Config) -> None:
    with pytest.raises(UsageError, match="shell"):
        render(cfg, step("sh", "true", shell="zsh"))


def test_an_approval_pauses_shows_its_question_and_is_never_run(cfg: Config) -> None:
    kind = STEPS["approval"]
    s = step("approval", "Kill idle connections on ${db} (token ${TOKEN})?", approvers="alice, bob")
    r = render(cfg, s, {"db": "main", "TOKEN": "tok-5ecret-value-81"}, frozenset({"TOKEN"}))
    assert kind.pauses and r.read_only
    assert r.display == f"Kill idle connections on main (token {REDACTED})?"
    assert r.target == "approval by alice, bob"
    ctx = StepContext(cfg=cfg, base_dir=cfg.base_dir, timeout=1, values={})
    with pytest.raises(UsageError):
        kind.run(r, ctx)
    assert kind.lint(step("approval", "  ")) != []
