"""One unit of work (a check, a backup, a drill, an integrity suite, a db snapshot), run and recorded by kind.

The daemon's scheduler decides *when* and the API's "run now" decides *now*; both come here,
and each kind is the same operation the CLI command calls (ops/check.py, backup.py, drill.py,
integrity.py), recording the same rows. ``run_unit`` is synchronous (jobs are blocking);
``arun_unit`` runs it in a thread for asyncio callers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ..config.load import Config
from ..errors import UsageError
from ..store import Store
from .record import Recorder

KINDS = ("check", "backup", "drill", "integrity", "runbook", "db_snapshot")
SCHEDULER = "opsbook-serve"  # the operator a scheduled runbook run is recorded under


def run_unit(cfg: Config, store: Store, kind: str, name: str, now: datetime | None = None) -> dict[str, Any]:
    """Run one unit and record it; returns its JSON document (``ok``, ``status``, ``kind``, ``name``...).

    A job that raises ``OpsbookError`` is recorded as an ``error`` run (as the CLI does) and the
    error is re-raised, so the scheduler can back the unit off. A drill writes its report files."""
    started = now or datetime.now(UTC)
    rec = Recorder(cfg.env, store=store)
    if kind == "check":
        from . import check

        return check.run_one(cfg, store, name)
    if kind == "backup":
        from . import backup

        return backup.run(cfg, name, rec, started=started, prune_after=True).unit_dict()
    if kind == "drill":
        from . import drill

        return drill.run(cfg, name, rec, started=started).unit_dict()
    if kind == "integrity":
        from . import integrity

        return integrity.run(cfg, name, rec, started=started).unit_dict()
    if kind == "runbook":
        return run_runbook(cfg, store, name)
    if kind == "db_snapshot":
        from . import db

        return db.snapshot(cfg, store, name, started)
    raise UsageError(f"unknown unit kind {kind!r}", hint=f"one of: {', '.join(KINDS)}")


def run_runbook(cfg: Config, store: Store, name: str) -> dict[str, Any]:
    """A routine runbook's scheduled run. It runs as a non-interactive run without ``--yes``: a
    ``confirm=true`` step is never confirmed by the daemon, the run waits (``runbook resume RUN
    --yes`` continues it) and its occurrence stays owed, so ``runbook NAME overdue`` notifies.
    While a run of it is still waiting (or running), a later occurrence starts nothing: it is
    ``skipped``, naming that run. A held lock raises (RunbookLocked): the scheduler logs it once
    and tries the next slot."""
    from ..runbooks.load import find
    from ..store import runbook_runs as rows
    from . import runbook
    from .runbook_step import STALE_AFTER

    book = find(cfg, name)
    with store.transaction() as tx:  # a run still waiting (or running) is not joined by another one
        rows.mark_stale(tx, datetime.now(UTC), STALE_AFTER)
        _, open_run = rows.last_done(tx, [name], cfg.env)[name]
    if open_run is not None:
        return {"kind": "runbook", "name": name, "ok": False, "status": "skipped", "run": open_run.id,
                "error": f"run {open_run.id} is still {open_run.status}"}
    rec = runbook.run(store, cfg, book, {}, SCHEDULER, environment=cfg.env)
    status = rec.run.status
    return {"kind": "runbook", "name": name, "ok": status == "succeeded", "status": status, "run": rec.run.id,
            "error": rec.run.error}


async def arun_unit(cfg: Config, store: Store, kind: str, name: str) -> dict[str, Any]:
    """``run_unit`` in a worker thread with its own store connection (SQLite connections are per thread)."""

    def work() -> dict[str, Any]:
        own = Store.open(store.url, migrate=False)
        try:
            return run_unit(cfg, own, kind, name)
        finally:
            own.close()

    return await asyncio.to_thread(work)
