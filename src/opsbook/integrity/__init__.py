"""Integrity suites: declarative, set-based data checks against PostgreSQL or SQLite.

Public API (stable; restore drills call it against their scratch database)::

    from opsbook.integrity import run_suite, IntegrityResult
    result = await run_suite(config, "core", dsn=scratch_dsn)
    result.ok            # no check failed or errored (warnings allowed)
    result.to_dict()     # the ``opsbook.integrity/1`` document
    from opsbook.render.integrity import integrity_markdown   # for reports

The engine (``engine.py``) plans the checks: the aggregate checks of one table share ONE
aggregate query; references are anti-joins; failing-row samples are fetched with a LIMIT
only for checks that found violations. One file per check type, listed in ``registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..config.load import Config
from .result import CheckOutcome, IntegrityResult

__all__ = ["CheckOutcome", "IntegrityResult", "run_suite"]


async def run_suite(
    config: Config,
    name: str,
    dsn: str | None = None,
    sqlite_path: str | None = None,
    previous: dict[str, Any] | None = None,
    *,
    resource: str | None = None,
    samples: int | None = None,
    now: Callable[[], datetime] | None = None,
) -> IntegrityResult:
    """Run the integrity suite ``integrity.<name>`` once and return what it found.

    The database is, in order of precedence: ``dsn`` (a PostgreSQL connection string),
    ``sqlite_path`` (a SQLite file, opened read-only), ``resource`` (a resource name), else
    the suite's own ``resource:`` / ``dsn:``. ``previous`` is an earlier result's
    ``to_dict()`` (the caller reads it from wherever it keeps history); each check's
    ``new_violations`` and the result's ``new_since_last_run`` compare against it.
    ``samples`` overrides the suite's ``sample_rows``; ``now`` is the clock for freshness.

    Raises ``UsageError`` for an unknown suite or a missing/unsuitable target, and
    ``CouldNotRun`` (exit code 3) when the database cannot be reached before any check ran.
    A check whose SQL fails (a missing table, say) gets status ``error``; the others still run.
    Async: call it with ``asyncio.run(...)`` from synchronous code.
    """
    from .engine import run

    return await run(config, name, dsn=dsn, sqlite_path=sqlite_path, previous=previous,
                     resource=resource, samples=samples, now=now)
