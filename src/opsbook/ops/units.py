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

KINDS = ("check", "backup", "drill", "integrity", "db_snapshot")


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
    if kind == "db_snapshot":
        from . import db

        return db.snapshot(cfg, store, name, started)
    raise UsageError(f"unknown unit kind {kind!r}", hint=f"one of: {', '.join(KINDS)}")


async def arun_unit(cfg: Config, store: Store, kind: str, name: str) -> dict[str, Any]:
    """``run_unit`` in a worker thread with its own store connection (SQLite connections are per thread)."""

    def work() -> dict[str, Any]:
        own = Store.open(store.url, migrate=False)
        try:
            return run_unit(cfg, own, kind, name)
        finally:
            own.close()

    return await asyncio.to_thread(work)
