"""``release rollback`` for real: the rollback command is a child process that writes a file, the
verify gates run against the sample service (healthy, then with its fault switch on), a rollback
runbook is a small Markdown file; every outcome is recorded and a failure is exit 1, loudly."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.ops import deploy_gate, release
from opsbook.ops.record import Recorder
from opsbook.store import Store
from opsbook.store import releases as rows
from tests.support.clirun import opsbook
from tests.support.demo_service import Service, demo_service
from tests.support.helpers import load

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "rb-secret-value-7f3a9c"
WRITER = "import os, sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2] + ' ' + sys.argv[3] + ' ' + " \
         "os.environ.get('RB_TOKEN', 'absent')); print('deployed', sys.argv[2]); sys.exit(int(sys.argv[4]))"


def config_text(svc: Service, tmp_path: Path, exit_code: int = 0, rollback: str | None = None) -> str:
    cmd = rollback or (f'command: "{sys.executable} -c \\"{WRITER}\\" {tmp_path / "deployed.txt"} ${{version}} '
                       f'${{env}} {exit_code}"')
    return f"""
resources:
  vault: {{kind: http, url: "{svc.url}", headers: {{Authorization: {{env: RB_TOKEN}}}}}}
checks:
  api-ready: {{http: {{url: "{svc.url}/readyz"}}, expect: ["status == 200"]}}
  api-health: {{http: {{url: "{svc.url}/health"}}, expect: ["status == 200"]}}
smoke:
  api-smoke:
    base_url: "{svc.url}"
    steps:
      - get: /health
        expect: ["status == 200"]
releases:
  services:
    api:
      rollback: {{{cmd}}}
      verify: {{ready: [api-ready], ready_timeout: 1s, ready_interval: 0.2s, smoke: [api-smoke], checks: [api-health]}}
"""


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    with demo_service(tmp_path, fault_file=tmp_path / "fault") as s:
        yield s


def seed(store: Store, cfg: Config) -> None:
    for i, v in enumerate(("v1", "v2")):
        release.record(store, cfg, service="api", version=v, env="production", by="ci", now=T0 + timedelta(hours=i))


def test_a_rollback_runs_the_command_without_secrets_then_verifies_and_records_it(
        svc: Service, tmp_path: Path, any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TOKEN", SECRET)
    cfg = load(config_text(svc, tmp_path), tmp_path)
    seed(any_store, cfg)
    p = release.plan(any_store, cfg, "api", "previous", "production")
    assert (p.current.version, p.target.version) == ("v2", "v1")
    said: list[str] = []
    res = release.rollback(any_store, cfg, p, "ana", Recorder("production", store=any_store),
                           clock=lambda: T0 + timedelta(hours=3), say=said.append)
    assert res.ok and res.outcome == "ok", res.message
    # the child ran with the version and env substituted, and without the secret's variable
    assert (tmp_path / "deployed.txt").read_text() == "v1 production absent"
    assert "deployed v1" in res.output and SECRET not in res.output
    assert [(g.gate, g.ok) for g in res.verify] == [("ready", True), ("smoke", True), ("checks", True)]
    assert release.current(any_store, "api", "production").version == "v1"  # type: ignore[union-attr]
    statuses = {r.version: r.status for r in release.listing(any_store, service="api")}
    assert statuses == {"v1": "deployed", "v2": "rolled_back"}
    with any_store.read() as tx:
        kinds = [e.kind for e in reversed(rows.events(tx, service="api"))]
        finished = rows.events(tx, kinds=("rollback_finished",))[0]
    assert kinds[-3:] == ["rollback_started", "verify", "rollback_finished"]
    assert finished.actor == "ana" and finished.detail["outcome"] == "ok" and SECRET not in str(finished.detail)
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "production") is None


def test_a_failing_rollback_command_is_recorded_and_leaves_the_current_release(
        svc: Service, tmp_path: Path, any_store: Store) -> None:
    cfg = load(config_text(svc, tmp_path, exit_code=3), tmp_path)
    seed(any_store, cfg)
    p = release.plan(any_store, cfg, "api", "v1", "production")
    res = release.rollback(any_store, cfg, p, "ana", Recorder("production", store=any_store))
    assert not res.ok and res.outcome == "rollback_failed" and res.exit_code == 3 and res.verify == []
    assert "exited 3" in res.message
    assert release.current(any_store, "api", "production").version == "v2"  # type: ignore[union-attr]
    why = deploy_gate._last_rollout_failed(cfg, any_store, "api", "production")
    assert why is not None and "rollback_failed" in why


def test_a_verification_failure_is_exit_1_loud_recorded_and_blocks_the_deploy_gate(
        svc: Service, tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(config_text(svc, tmp_path))
    common = ("--config", str(tmp_path / "opsbook.yaml"), "--store", f"sqlite:///{tmp_path / 's.db'}",
              "--env", "production")
    for v in ("v1", "v2"):
        assert opsbook("release", "record", "--service", "api", "--version", v, *common).code == 0
    (tmp_path / "fault").write_text("down\n")  # the service stops being ready
    r = opsbook("release", "rollback", "api", "--to", "previous", "--yes", "--by", "ana", *common)
    assert r.code == 1, r.text
    assert "ROLLBACK NOT VERIFIED" in r.stderr and "api-ready" in r.stderr
    assert (tmp_path / "deployed.txt").read_text().startswith("v1 production")
    shown = opsbook("release", "show", "api", "v2", "--json", *common)
    done = [e for e in shown.json["events"] if e["kind"] == "rollback_finished"]
    assert done[0]["detail"]["outcome"] == "verification_failed"
    gate = opsbook("gate", "deploy", "--service", "api", *common)
    assert gate.code == 1 and "failed_rollout:" in gate.stdout and "verification_failed" in gate.stdout


def test_a_rollback_without_yes_and_without_a_terminal_asks_for_yes(svc: Service, tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(config_text(svc, tmp_path))
    common = ("--config", str(tmp_path / "opsbook.yaml"), "--store", f"sqlite:///{tmp_path / 's.db'}",
              "--env", "production")
    for v in ("v1", "v2"):
        opsbook("release", "record", "--service", "api", "--version", v, *common)
    r = opsbook("release", "rollback", "api", *common)
    assert r.code == 2 and "--yes" in r.stderr and not (tmp_path / "deployed.txt").exists()


RUNBOOK = """---
params:
  version: {{required: true}}
  env: {{default: staging}}
---
# Roll back api

```sh {{name=deploy mutates=true}}
printf '%s %s' "${{version}}" "${{env}}" > {out}
```
"""


def test_a_runbook_rollback_runs_the_runbook_with_version_and_env(svc: Service, tmp_path: Path,
                                                                  any_store: Store) -> None:
    (tmp_path / "runbooks").mkdir()
    out = tmp_path / "from-runbook.txt"
    (tmp_path / "runbooks" / "rollback-api.md").write_text(RUNBOOK.format(out=out))
    cfg = load(config_text(svc, tmp_path, rollback="runbook: rollback-api"), tmp_path)
    seed(any_store, cfg)
    p = release.plan(any_store, cfg, "api", "previous", "production")
    res = release.rollback(any_store, cfg, p, "ana", Recorder("production", store=any_store))
    assert res.ok, res.message
    assert out.read_text() == "v1 production"
    assert res.how == "runbook" and res.runbook_run is not None and "succeeded" in res.message


def test_plan_refuses_what_cannot_be_rolled_back(svc: Service, tmp_path: Path, any_store: Store) -> None:
    from opsbook.errors import UsageError

    cfg = load(config_text(svc, tmp_path), tmp_path)
    with pytest.raises(UsageError, match="no release of api in production"):
        release.plan(any_store, cfg, "api", "previous", "production")
    seed(any_store, cfg)
    with pytest.raises(UsageError, match="already the current release"):
        release.plan(any_store, cfg, "api", "v2", "production")
    with pytest.raises(UsageError, match="did you mean 'v1'"):
        release.plan(any_store, cfg, "api", "v11", "production")
    with pytest.raises(UsageError, match="did you mean 'api'"):
        release.plan(any_store, cfg, "apx", "previous", "production")


def test_of_two_rollbacks_started_at_once_one_wins_and_the_other_runs_nothing(
        svc: Service, tmp_path: Path, any_store: Store) -> None:
    from opsbook.errors import ReleaseConflict

    cfg = load(config_text(svc, tmp_path), tmp_path)
    seed(any_store, cfg)
    first = release.plan(any_store, cfg, "api", "previous", "production")
    second = release.plan(any_store, cfg, "api", "previous", "production")
    with any_store.transaction() as tx:  # the first one has claimed v2 and is running
        assert rows.move(tx, first.current.id, "deployed", "rolling_back", T0) is not None
    with pytest.raises(ReleaseConflict) as e:
        release.rollback(any_store, cfg, second, "bob", Recorder("production", store=any_store))
    assert e.value.exit_code == 1 and "not the deployed release any more" in e.value.message
    assert not (tmp_path / "deployed.txt").exists()
    assert release.current(any_store, "api", "production").version == "v2"  # type: ignore[union-attr]


def test_a_rollback_that_breaks_midway_gives_the_release_back_and_records_the_failure(
        svc: Service, tmp_path: Path, any_store: Store) -> None:
    from opsbook.errors import UsageError

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rollback-api.md").write_text("# Roll back\n\n```sh {name=x}\ntrue\n```\n")
    cfg = load(config_text(svc, tmp_path, rollback="runbook: rollback-api"), tmp_path)
    seed(any_store, cfg)
    p = release.plan(any_store, cfg, "api", "previous", "production")
    with pytest.raises(UsageError, match="takes no parameter 'version'"):
        release.rollback(any_store, cfg, p, "ana", Recorder("production", store=any_store))
    cur = release.current(any_store, "api", "production")
    assert cur is not None and (cur.version, cur.status) == ("v2", "deployed")
    with any_store.read() as tx:
        done = rows.events(tx, kinds=("rollback_finished",))
    assert done[0].detail["outcome"] == "rollback_failed" and "did not finish" in done[0].detail["message"]
