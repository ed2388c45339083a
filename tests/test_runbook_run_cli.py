"""The run commands as a user runs them (a real `opsbook` subprocess, a Markdown runbook):
exit codes, the waiting code with the commands that continue, the record as Markdown."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.clirun import in_a_terminal, opsbook

RUNBOOK = """\
---
title: Restart the API
params:
  token: {secret: true, required: true}
  service: api
env: [staging, production]
lock: api
---
# Restart the API

```sh {name=look mutates=false}
echo "looking at $service"
```

- [ ] tell the channel

```sh {name=restart mutates=true}
echo "restarting $service with $token"
```

## Rollback

```sh {name=undo}
echo undo
```
"""


def _setup(tmp_path: Path, text: str = RUNBOOK) -> None:
    (tmp_path / "opsbook.yaml").write_text("version: 1\ndefault_env: staging\n"
                                           "environments: {staging: {}, production: {}}\n")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "restart.md").write_text(textwrap.dedent(text))


def test_a_non_interactive_run_waits_at_a_checklist_exits_4_and_continues_with_ack_and_resume(tmp_path: Path) -> None:
    _setup(tmp_path)
    secret = "tok-very-secret-42"
    r = opsbook("runbook", "run", "restart", "-p", f"token={secret}", "--env", "staging", "--as", "ana", cwd=tmp_path)
    assert r.code == 4, r.text
    assert "waits for checklist check-1: tell the channel" in r.text
    assert "opsbook runbook ack 1 && opsbook runbook resume 1" in r.text
    other = opsbook("runbook", "run", "restart", "-p", "token=x", "--env", "staging", cwd=tmp_path)
    assert other.code == 1 and "held by run 1 (ana, since" in other.stderr
    assert opsbook("runbook", "ack", "1", "--item", "1", "--as", "bob", cwd=tmp_path).code == 0
    r = opsbook("runbook", "resume", "1", "--env", "production", cwd=tmp_path)
    assert r.code == 2 and "add --env staging" in r.stderr
    r = opsbook("runbook", "resume", "1", cwd=tmp_path)
    assert r.code == 2 and "-p token=..." in r.stderr  # secrets are not recorded: given again
    r = opsbook("runbook", "resume", "1", "-p", f"token={secret}", cwd=tmp_path)
    assert r.code == 0 and "run 1 succeeded" in r.text
    md = opsbook("runbook", "record", "1", "--md", cwd=tmp_path)
    assert md.code == 0 and "# Runbook run 1: restart" in md.stdout
    assert "**Acknowledged by:** bob" in md.stdout and "restarting api with ***" in md.stdout
    doc = opsbook("runbook", "record", "1", "--json", cwd=tmp_path).json
    assert doc["schema"] == "opsbook.runbook_run/1" and doc["params"] == {"token": "***", "service": "api"}
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("look", "ok"), ("check-1", "acked"), ("restart", "ok")]
    for out in (r.text, md.stdout, str(doc)):
        assert secret not in out
    runs = opsbook("runbook", "runs", "restart", "--json", cwd=tmp_path).json["runs"]
    assert [x["status"] for x in runs] == ["succeeded"]


def test_a_dry_run_exits_0_and_runs_only_read_only_steps(tmp_path: Path) -> None:
    _setup(tmp_path)
    r = opsbook("runbook", "run", "restart", "-p", "token=abcd1234", "--env", "staging", "--dry-run", "--json",
                cwd=tmp_path)
    assert r.code == 0, r.text
    assert [(s["name"], s["status"]) for s in r.json["steps"]] == [
        ("look", "ok"), ("check-1", "dry_run"), ("restart", "dry_run")]
    assert r.json["dry_run"] is True


def test_a_failed_run_exits_1_after_its_rollback_and_bad_input_exits_2(tmp_path: Path) -> None:
    _setup(tmp_path, RUNBOOK.replace('echo "looking at $service"', "exit 7"))
    r = opsbook("runbook", "run", "restart", "-p", "token=abcd1234", "--env", "staging", cwd=tmp_path)
    assert r.code == 1 and "rolled_back" in r.text
    assert "-> rollback undo" in r.text
    bad = opsbook("runbook", "run", "restart", "-p", "token=x", "--env", "production", "-p", "servcie=db",
                  cwd=tmp_path)
    assert bad.code == 2 and "no parameter named 'servcie'" in bad.stderr and "did you mean" in bad.stderr.lower()
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    r = opsbook("runbook", "run", "restart", "-p", "token=x", cwd=tmp_path)
    assert r.code == 2 and "may not run in environment (none)" in r.stderr
    assert opsbook("runbook", "record", "99", cwd=tmp_path).code == 2


APPROVAL = """\
---
lock: db
---
```sh {name=look mutates=false}
echo looking
```

```approval {name=go}
Kill the idle connections?
```

```sh {name=kill mutates=true}
echo killed
```
"""


def test_an_approval_waits_exits_4_and_only_another_operator_may_give_it(tmp_path: Path) -> None:
    _setup(tmp_path, APPROVAL)
    ana, bob = {"OPSBOOK_OPERATOR": "ana"}, {"OPSBOOK_OPERATOR": "bob"}
    r = opsbook("runbook", "run", "restart", cwd=tmp_path, env=ana)
    assert r.code == 4 and "waits for approval go" in r.text and "opsbook runbook approve 1" in r.text
    same = opsbook("runbook", "approve", "1", cwd=tmp_path, env=ana)
    assert same.code == 1 and "ana started run 1: the approval must come from another operator" in same.stderr
    ok = opsbook("runbook", "approve", "1", "--step", "go", cwd=tmp_path, env=bob)
    assert ok.code == 0 and "opsbook runbook resume 1" in ok.stdout
    r = opsbook("runbook", "resume", "1", "--json", cwd=tmp_path, env=ana)
    assert r.code == 0 and [(s["name"], s["status"], s["actor"]) for s in r.json["steps"]] == [
        ("look", "ok", None), ("go", "approved", "bob"), ("kill", "ok", None)]
    assert r.json["approvals"][0]["decided_by"] == "bob"


INTERACTIVE = """\
```sh {name=hello}
echo "hello from the step"
```

- [ ] tell the channel

```sh {name=drop confirm=true}
echo dropped
```
"""


def test_in_a_terminal_the_output_streams_and_confirmations_and_checklists_are_asked(tmp_path: Path) -> None:
    _setup(tmp_path, INTERACTIVE)
    r = in_a_terminal("runbook", "run", "restart", "--as", "ana", cwd=tmp_path, answer=b"y")
    text = r.stdout
    assert r.code == 0, text
    assert "hello from the step" in text and "tell the channel" in text and "run step drop" in text
    doc = opsbook("runbook", "record", "1", "--json", cwd=tmp_path).json
    assert [(s["name"], s["status"], s["actor"]) for s in doc["steps"]] == [
        ("hello", "ok", None), ("check-1", "acked", "ana"), ("drop", "ok", None)]
