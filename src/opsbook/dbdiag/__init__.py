"""PostgreSQL diagnostics: named, read-only reports with a stable JSON shape (``opsbook db``).

Each report is one module (connections, activity, locks, slow, indexes, tables, cache,
replication, vacuum); ``REPORTS`` lists them in the order ``opsbook db report`` prints them.
The queries are the well-known ones of PgHero and check_postgres, re-written. They sit below
the check kinds so the postgres check can turn them into observations (observe.py).
"""

from __future__ import annotations

from types import ModuleType

from . import activity, cache, connections, indexes, locks, replication, slow, tables, vacuum

REPORTS: dict[str, ModuleType] = {m.NAME: m for m in (
    connections, activity, locks, slow, indexes, tables, cache, replication, vacuum)}
