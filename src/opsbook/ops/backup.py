"""``backup run`` and ``backup prune``, by hand or on schedule: run the job, record it, return its document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.load import Config
from ..errors import OpsbookError, UsageError
from ..results import utcnow
from .record import Recorder, error_of

if TYPE_CHECKING:
    from ..jobs.backup.pipeline import Progress
    from ..store import Store

BACKUP_SCHEMA = "opsbook.backup/1"
PRUNE_SCHEMA = "opsbook.backup-prune/1"


@dataclass
class BackupRun:
    name: str
    doc: dict[str, Any]  # the job's result document, as recorded
    prune: dict[str, Any] | None = None  # the prune that followed it (scheduled backups with keep:)
    ok: bool = True  # a backup that did not finish raises

    def to_dict(self) -> dict[str, Any]:
        """``opsbook backup run --json``."""
        return self.doc

    def unit_dict(self) -> dict[str, Any]:
        """The run as a unit (scheduler, API): the document plus what ran and how it went."""
        out = {**self.doc, "kind": "backup", "name": self.name, "ok": True, "status": "pass"}
        if self.prune is not None:
            out["prune"] = self.prune
        return out


@dataclass
class PruneRun:
    doc: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``opsbook backup prune --json``."""
        return self.doc


def run(cfg: Config, name: str, rec: Recorder, *, progress: Progress | None = None,
        started: datetime | None = None, prune_after: bool = False) -> BackupRun:
    """Dump, compress, encrypt and store one backup; record it (an error or an interruption
    as an ``error`` run, then re-raised). ``prune_after``: apply ``keep:`` after it, as the daemon does."""
    from ..jobs.backup.pipeline import backup_spec, run_backup

    spec = backup_spec(cfg, name)
    started = started or utcnow()
    try:
        result = run_backup(cfg, name, progress)
    except (OpsbookError, KeyboardInterrupt) as e:
        rec.record("backup", name, ok=False, detail={"schema": BACKUP_SCHEMA, "ok": False, "name": name,
                                                      "error": error_of(e)}, started_at=started, status="error")
        raise
    doc = result.to_dict()
    rec.record("backup", name, ok=True, detail=doc, started_at=started)
    pruned = after_backup(cfg, name, rec, started) if prune_after and spec.keep is not None else None
    return BackupRun(name, doc, pruned)


def verified_ids(store: Store, backup: str) -> set[str]:
    """Backup ids that a passing drill restored, from the store: prune never deletes them."""
    out = set()
    for run in store.runs("drill", limit=10000):
        detail = run.get("detail") or {}
        if isinstance(detail, str):
            detail = json.loads(detail)
        if run.get("ok") and detail.get("backup") == backup and detail.get("backup_id"):
            out.add(detail["backup_id"])
    return out


def _prune(cfg: Config, name: str, rec: Recorder, now: datetime, dry_run: bool) -> dict[str, Any]:
    from ..jobs.backup.pipeline import backup_spec
    from ..jobs.backup.prune import prune as apply

    spec = backup_spec(cfg, name)
    if spec.keep is None:
        raise UsageError(f"backups.{name} has no keep: policy",
                         hint="add keep: {last: 7, daily: 7, weekly: 4, monthly: 12}")
    verified = rec.read(lambda store: verified_ids(store, name),
                        "cannot read drill runs ({reason}); only the newest backup is protected")
    return apply(cfg, name, verified or set(), now, dry_run)


def prune(cfg: Config, name: str, rec: Recorder, now: datetime | None = None, dry_run: bool = False) -> PruneRun:
    """Apply ``keep:``, never deleting the newest good or a drill-verified backup; recorded unless ``dry_run``."""
    now = now or utcnow()
    doc = _prune(cfg, name, rec, now, dry_run)
    if not dry_run:
        rec.record("backup-prune", name, ok=True, detail=doc, started_at=now)
    return PruneRun(doc)


def after_backup(cfg: Config, name: str, rec: Recorder, now: datetime) -> dict[str, Any]:
    """The daemon applies ``keep:`` after each successful backup. A failed prune is recorded and
    returned, and does not make the backup a failure."""
    try:
        doc = _prune(cfg, name, rec, now, dry_run=False)
    except OpsbookError as e:
        doc = {"schema": PRUNE_SCHEMA, "ok": False, "name": name, "error": e.to_dict()}
        rec.record("backup-prune", name, ok=False, detail=doc, started_at=now, status="error")
        return doc
    rec.record("backup-prune", name, ok=True, detail=doc, started_at=now)
    return doc
