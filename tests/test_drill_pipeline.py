"""The drill pipeline: steps run in order over a real restored backup; a step's stop or error skips
the later steps and cleanup still runs; the services a step calls are the ones passed in."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from opsbook.config.load import Config
from opsbook.errors import CouldNotRun
from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.backup.storage import storage_for
from opsbook.jobs.drill import (
    DrillContext,
    DrillResult,
    DrillServices,
    Step,
    StepResult,
    Verification,
    drill,
    drill_spec,
    run_drill,
)
from opsbook.jobs.drill.steps import row_counts
from opsbook.ops.load import load
from tests.support.backuputil import seed, write_config
from tests.support.pgutil import ADMIN_DSN, scratch_database


class Suite:
    ok = True
    counts: ClassVar[dict[str, int]] = {"pass": 1, "fail": 0}

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True}


class Services:
    """Records what the steps asked for; never touches the real runner, smoke or integrity engine."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def integrity(self, suite: str, *, dsn: str | None = None, sqlite_path: str | None = None) -> Suite:
        assert sqlite_path is not None and sqlite3.connect(sqlite_path).execute("SELECT count(*) FROM users").fetchone()
        self.calls.append((suite, sqlite_path))
        return Suite()

    def ready(self, names: list[str]) -> Sequence[Any]:
        raise AssertionError("no app: in this drill")

    def smoke(self, suite: str, base_url: str | None) -> Any:
        raise AssertionError("no app: in this drill")

    def services(self) -> DrillServices:
        return DrillServices(integrity=self.integrity, ready=self.ready, smoke=self.smoke)


@pytest.fixture
def sqlite_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("OPSBOOK_TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with sqlite3.connect(tmp_path / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        c.executemany("INSERT INTO users (email) VALUES (?)", [(f"u{i}@x",) for i in range(100)])
    cfg = load(write_config(tmp_path, """
resources:
  app-db: {kind: sqlite, path: ./app.db}
backups:
  nightly: {source: app-db, path: ./backups}
integrity:
  core:
    checks:
      - not_null: {table: users, columns: [email]}
drills:
  nightly-drill:
    backup: nightly
    verify: {integrity: core}
"""))
    run_backup(cfg, "nightly")
    return cfg


def test_the_integrity_step_calls_the_runner_it_was_given(sqlite_backup: Config, tmp_path: Path) -> None:
    services = Services()
    result = run_drill(sqlite_backup, "nightly-drill", services=services.services())
    assert result.ok, result.to_dict()
    assert [c.name for c in result.checks] == ["integrity_check", "row_counts", "integrity:core"]
    assert result.checks[-1].summary == "1 pass"
    [(suite, path)] = services.calls
    assert suite == "core" and path.startswith(str(tmp_path / "tmp"))
    assert not Path(path).exists() and list((tmp_path / "tmp").iterdir()) == []  # the work directory is gone


def _steps(log: list[str], fail: Step) -> list[Step]:
    def later(ctx: DrillContext) -> StepResult:
        log.append("later")
        return StepResult([Verification("later", True, "ran")])

    return [Step("row_counts", "verify", row_counts), fail, Step("later", "verify", later)]


def _drill(cfg: Config, name: str, steps: list[Step]) -> DrillResult:
    d, b = drill_spec(cfg, name)
    return drill(name, d, b, storage_for(cfg, d.backup), Services().services(), resources=cfg.resources,
                 base_dir=cfg.base_dir, steps=steps)


def test_a_step_that_stops_skips_the_later_steps_and_its_cleanup_still_runs(
        sqlite_backup: Config, tmp_path: Path) -> None:
    log: list[str] = []

    def fail(ctx: DrillContext) -> StepResult:
        ctx.defer(lambda: log.append("cleaned up"))
        assert ctx.db.count("users", ctx.manifest.tables["users"])[0] == 100
        return StepResult([Verification("gate", False, "not ready")], stop=True)

    result = _drill(sqlite_backup, "nightly-drill", _steps(log, Step("gate", "verify", fail)))
    assert log == ["cleaned up"]
    assert [c.name for c in result.checks] == ["integrity_check", "row_counts", "gate"]
    assert not result.ok and result.issues() == ["gate: not ready"]
    assert list(result.phases_ms) == ["fetch", "decrypt_decompress", "restore", "verify"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_step_that_raises_ends_the_drill_and_the_scratch_database_is_dropped(tmp_path: Path) -> None:
    with scratch_database("opsbook_drill_pipe_src") as dsn:
        seed(dsn)
        cfg = load(write_config(tmp_path, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
  target: {{kind: postgres, dsn: "{ADMIN_DSN}"}}
backups:
  daily: {{source: db, path: ./backups}}
drills:
  pipe: {{backup: daily, target: {{resource: target}}}}
"""))
        run_backup(cfg, "daily")
        log: list[str] = []

        def fail(ctx: DrillContext) -> StepResult:
            ctx.defer(lambda: log.append("cleaned up"))
            log.append(ctx.result.scratch)
            raise CouldNotRun("the step could not run")

        result = _drill(cfg, "pipe", _steps(log, Step("boom", "verify", fail)))
    assert log == [result.scratch, "cleaned up"] and result.scratch.startswith("drill_pipe_")
    assert result.error is not None and result.error["message"] == "the step could not run"
    assert [c.name for c in result.checks] == ["row_counts"] and result.checks[0].ok
    assert not result.ok and not result.kept
    with psycopg.connect(ADMIN_DSN) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (result.scratch,)).fetchone() == (0,)

