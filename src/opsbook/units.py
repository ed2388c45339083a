"""One unit of work (a check, a backup, a drill, an integrity suite), run and recorded.

The daemon's scheduler decides *when*; this module does the *what*, exactly as the CLI
commands do it: the same job functions, and the same rows in the store (results and flips
for a check; one ``runs`` row with the same detail document for a job). ``run_unit`` is
synchronous (jobs are blocking); ``arun_unit`` runs it in a thread for asyncio callers such
as the web app's "run now".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import app
from .config.load import Config
from .errors import OpsbookError, UsageError
from .results import RUN_SCHEMA, STATUSES, overall_exit
from .store import Store

KINDS = ("check", "backup", "drill", "integrity")
ReportWriter = Callable[[Config, str, dict[str, Any]], dict[str, str]]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def run_unit(cfg: Config, store: Store, kind: str, name: str, now: datetime | None = None,
             write_report: ReportWriter | None = None) -> dict[str, Any]:
    """Run one unit and record it; returns its JSON document (``ok``, ``status``, ``kind``, ``name``...).

    A job that raises ``OpsbookError`` is recorded as an ``error`` run (as the CLI does) and the
    error is re-raised, so the scheduler can back the unit off."""
    if kind == "check":
        return run_check(cfg, store, name)
    if kind == "backup":
        return run_backup(cfg, store, name, _now(now))
    if kind == "drill":
        return run_drill(cfg, store, name, _now(now), write_report)
    if kind == "integrity":
        return run_integrity(cfg, store, name, _now(now))
    raise UsageError(f"unknown unit kind {kind!r}", hint=f"one of: {', '.join(KINDS)}")


async def arun_unit(cfg: Config, store: Store, kind: str, name: str,
                    write_report: ReportWriter | None = None) -> dict[str, Any]:
    """``run_unit`` in a worker thread with its own store connection (SQLite connections are per thread)."""

    def work() -> dict[str, Any]:
        own = Store.open(store.url, migrate=False)
        try:
            return run_unit(cfg, own, kind, name, write_report=write_report)
        finally:
            own.close()

    return await asyncio.to_thread(work)


def run_check(cfg: Config, store: Store, name: str) -> dict[str, Any]:
    """``opsbook check NAME``: the check and what it depends on, results and flips recorded."""
    if name not in cfg.checks:
        raise UsageError(f"no check named {name!r}", hint=f"defined: {', '.join(cfg.checks) or '(none)'}")
    results, flips = asyncio.run(app.check(cfg, [name], store=store))
    mine = next(r for r in results if r.name == name)
    # the shape of `opsbook check --json` (opsbook.check-run/1), plus what ran
    return {"schema": RUN_SCHEMA, "env": cfg.env, "kind": "check", "name": name, "ok": mine.ok,
            "status": mine.status, "exit_code": overall_exit(results),
            "counts": {s: sum(r.status == s for r in results) for s in STATUSES},
            "results": [r.to_dict() for r in results], "flips": [f.to_dict() for f in flips]}


def _record(cfg: Config, store: Store, kind: str, name: str, ok: bool, doc: dict[str, Any],
            started: datetime, status: str | None = None) -> None:
    store.record_run(kind, name, ok=ok, status=status or ("pass" if ok else "fail"), started_at=started,
                     finished_at=datetime.now(UTC), detail=doc, env=cfg.env)


def _with_status(doc: dict[str, Any], kind: str, name: str, ok: bool, status: str) -> dict[str, Any]:
    # the stored detail keeps the CLI's shape; the returned document also says what ran
    return {**doc, "kind": kind, "name": name, "ok": ok, "status": status}


def run_backup(cfg: Config, store: Store, name: str, started: datetime) -> dict[str, Any]:
    """``opsbook backup run NAME``."""
    from .jobs.backup.pipeline import backup_spec
    from .jobs.backup.pipeline import run_backup as backup

    backup_spec(cfg, name)
    try:
        result = backup(cfg, name)
    except OpsbookError as e:
        _record(cfg, store, "backup", name, False,
                {"schema": "opsbook.backup/1", "ok": False, "name": name, "error": e.to_dict()}, started, "error")
        raise
    doc = result.to_dict()
    _record(cfg, store, "backup", name, True, doc, started)
    out = _with_status(doc, "backup", name, True, "pass")
    if cfg.model.backups[name].keep is not None:
        out["prune"] = prune_after_backup(cfg, store, name, started)
    return out


def prune_after_backup(cfg: Config, store: Store, name: str, now: datetime) -> dict[str, Any]:
    """The daemon applies ``keep:`` after each successful backup, recorded as ``backup prune`` records
    it. A failed prune is recorded and returned, and does not make the backup a failure."""
    from .jobs.backup.prune import prune, verified_ids

    try:
        doc = prune(cfg, name, verified_ids(store, name), now, dry_run=False)
    except OpsbookError as e:
        doc = {"schema": "opsbook.backup-prune/1", "ok": False, "name": name, "error": e.to_dict()}
        _record(cfg, store, "backup-prune", name, False, doc, now, "error")
        return doc
    _record(cfg, store, "backup-prune", name, True, doc, now)
    return doc


def run_drill(cfg: Config, store: Store, name: str, started: datetime,
              write_report: ReportWriter | None = None) -> dict[str, Any]:
    """``opsbook drill run NAME``. ``write_report(cfg, name, doc)`` writes the Markdown/JSON drill log
    and returns its paths (rendering is a surface's business, so the caller passes it in)."""
    from .jobs.drill import drill_spec
    from .jobs.drill import run_drill as drill

    spec, _ = drill_spec(cfg, name)
    try:
        result = drill(cfg, name)
    except OpsbookError as e:
        _record(cfg, store, "drill", name, False, {"schema": "opsbook.drill/1", "ok": False, "drill": name,
                                                   "backup": spec.backup, "error": e.to_dict()}, started, "error")
        raise
    doc = result.to_dict()
    if write_report is not None:
        doc["report"] = write_report(cfg, name, doc)
    _record(cfg, store, "drill", name, result.ok, doc, started)
    return _with_status(doc, "drill", name, result.ok, "pass" if result.ok else "fail")


def previous_integrity(cfg: Config, store: Store, name: str, target: str) -> dict[str, Any] | None:
    """The last recorded run of this suite against this target, in this environment (as the CLI reads it)."""
    for row in store.runs("integrity", limit=1000, name=name):
        detail = row.get("detail")
        if (row.get("env", "") == (cfg.env or "") and isinstance(detail, dict)
                and isinstance(detail.get("checks"), list) and detail.get("target") == target):
            return detail
    return None


def run_integrity(cfg: Config, store: Store, name: str, started: datetime) -> dict[str, Any]:
    """``opsbook integrity run NAME``."""
    from .integrity import run_suite
    from .integrity.engine import resolve_target, suite_of

    suite = suite_of(cfg, name)
    target = resolve_target(cfg, name, suite, None, None, None)
    previous = previous_integrity(cfg, store, name, target.label)
    try:
        result = asyncio.run(run_suite(cfg, name, previous=previous))
    except OpsbookError as e:
        _record(cfg, store, "integrity", name, False, {"schema": "opsbook.integrity/1", "suite": name,
                                                       "target": target.label, "ok": False,
                                                       "error": e.to_dict()}, started, "error")
        raise
    statuses = {c.status for c in result.checks}
    worst = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    doc = result.to_dict()
    store.record_run("integrity", name, ok=result.ok, status=worst, started_at=result.started_at,
                     finished_at=datetime.now(UTC), detail=doc, env=cfg.env)
    return _with_status(doc, "integrity", name, result.ok, worst)
