"""``cache``: buffer cache hit ratios (tables, indexes, the database); below ~99 % on an OLTP
database usually means the working set no longer fits in shared_buffers."""

from __future__ import annotations

from typing import Any

from .base import Options, Query, Section, pct

NAME = "cache"
TITLE = "Cache hit ratios"
NEEDS = "none (statistics views readable by every user)"

_RATIOS = """
SELECT (SELECT 100.0 * sum(heap_blks_hit) / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0)
          FROM pg_statio_user_tables) AS tables_pct,
       (SELECT 100.0 * sum(idx_blks_hit) / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0)
          FROM pg_statio_user_indexes) AS indexes_pct,
       (SELECT 100.0 * blks_hit / nullif(blks_hit + blks_read, 0)
          FROM pg_stat_database WHERE datname = current_database()) AS database_pct,
       current_setting('shared_buffers') AS shared_buffers
"""


def _r(v: Any) -> float | None:
    return None if v is None else round(float(v), 2)


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    r = await q.one(_RATIOS)
    return {"tables_pct": _r(r["tables_pct"]), "indexes_pct": _r(r["indexes_pct"]),
            "database_pct": _r(r["database_pct"]), "shared_buffers": r["shared_buffers"]}


def sections(doc: dict[str, Any]) -> list[Section]:
    return [Section("Hit ratios", ("what", "hit ratio"), [
        ["tables", pct(doc["tables_pct"])], ["indexes", pct(doc["indexes_pct"])],
        ["database", pct(doc["database_pct"])], ["shared_buffers", doc["shared_buffers"]]],
        notes=["no reads yet: ratios are '-'"] if doc["tables_pct"] is None else [])]
