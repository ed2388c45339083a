"""``drill run``, by hand or on schedule: restore and verify a backup, write the drill report, record it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.load import Config
from ..errors import OpsbookError
from ..results import utcnow
from .record import Recorder, status_of

if TYPE_CHECKING:
    from ..jobs.drill import DrillResult

DRILL_SCHEMA = "opsbook.drill/1"


@dataclass
class DrillRun:
    name: str
    result: DrillResult
    doc: dict[str, Any]  # the result document with ``report`` (the files written), as recorded

    @property
    def ok(self) -> bool:
        return self.result.ok

    def to_dict(self) -> dict[str, Any]:
        """``opsbook drill run --json``."""
        return self.doc

    def unit_dict(self) -> dict[str, Any]:
        return {**self.doc, "kind": "drill", "name": self.name, "ok": self.ok, "status": status_of(self.ok)}


def report_dir(configured: str, base_dir: Path, override: Path | None = None) -> Path:
    """Where the drill report goes: ``--report-dir`` (relative to the working directory), else the
    drill's ``report_dir:`` (relative to the config file's directory)."""
    d = override or Path(configured).expanduser()
    return d if d.is_absolute() else (Path.cwd() if override else base_dir) / d


def run(cfg: Config, name: str, rec: Recorder, *, backup_id: str | None = None, keep: bool = False,
        identity: str | None = None, on_phase: Callable[[str], None] | None = None,
        report: bool = True, report_override: Path | None = None, started: datetime | None = None) -> DrillRun:
    """Fetch, decrypt, restore and verify a backup; write the Markdown and JSON report (unless
    ``report`` is False); record the run. A drill that raises is recorded as an ``error`` run."""
    from ..jobs.drill import drill_spec, run_drill

    spec, _ = drill_spec(cfg, name)
    started = started or utcnow()
    try:
        result = run_drill(cfg, name, backup_id, keep, identity, on_phase)
    except OpsbookError as e:
        rec.record("drill", name, ok=False, detail={"schema": DRILL_SCHEMA, "ok": False, "drill": name,
                                                     "backup": spec.backup, "error": e.to_dict()},
                   started_at=started, status="error")
        raise
    doc = result.to_dict()
    if report:
        from ..render.backup import write_drill_report

        doc["report"] = write_drill_report(report_dir(spec.report_dir, cfg.base_dir, report_override), name, doc)
    rec.record("drill", name, ok=result.ok, detail=doc, started_at=started)
    return DrillRun(name, result, doc)
