"""``migrate sqlite-to-postgres``: run the migration, write its redacted report files, record it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.secrets import redactor
from ..errors import UsageError
from ..results import utcnow
from .record import Recorder

if TYPE_CHECKING:
    from ..migrate.load import Progress
    from ..migrate.report import MigrationReport
    from ..migrate.run import Event, Options


@dataclass
class MigrateRun:
    report: MigrationReport
    doc: dict[str, Any]  # the report document, secrets redacted, as written and recorded
    files: list[Path]  # the Markdown and JSON report

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_dict(self) -> dict[str, Any]:
        return self.doc


def run(opts: Options, report_dir: Path, rec: Recorder, progress: Progress | None = None,
        event: Event | None = None) -> MigrateRun:
    from ..migrate.run import migrate
    from ..render import jsondoc

    started = utcnow()
    report = migrate(opts, progress=progress, event=event) if progress or event else migrate(opts)
    doc = redactor.redact(json.loads(jsondoc.dumps(report.to_dict())))
    files = write_report(report_dir, doc)
    rec.record("migration", opts.source.name, ok=report.ok, detail=doc, started_at=started, status=report.status)
    return MigrateRun(report, doc, files)


def write_report(report_dir: Path, doc: dict[str, Any]) -> list[Path]:
    from ..render import jsondoc
    from ..render.migration import migration_markdown

    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --report-dir {report_dir}: {e.strerror}") from None
    stem = report_dir / f"migration-{doc['started_at'][:19].replace(':', '').replace('-', '')}"
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    md.write_text(redactor.text(migration_markdown(doc)))
    js.write_text(jsondoc.dumps(doc) + "\n")
    return [md, js]
