"""``slow``: pg_stat_statements, top N by total time and by mean time, in this database.

Absent extension: the report says so and gives the fix instead of failing the page."""

from __future__ import annotations

from typing import Any

from ..errors import ReportUnavailable as Unavailable
from .base import MONITOR, Options, Query, Section, cell, query_text

NAME = "slow"
TITLE = "Slow queries (pg_stat_statements)"
NEEDS = f"the pg_stat_statements extension; {MONITOR} to see other users' query text"
FIX = ("add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart PostgreSQL, "
       "then run CREATE EXTENSION pg_stat_statements; in this database")

_INSTALLED = "SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'pg_stat_statements'"
# PostgreSQL 13 renamed total_time/mean_time to total_exec_time/mean_exec_time
_TOP = """
SELECT s.queryid, r.rolname AS "user", s.calls, s.{total} AS total_ms, s.{mean} AS mean_ms, s.rows,
       s.query
FROM {schema}.pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY s.{order} DESC NULLS LAST LIMIT %s
"""


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    inst = await q.one(_INSTALLED)
    if not inst:
        raise Unavailable("the pg_stat_statements extension is not installed in this database",
                          "pg_stat_statements", FIX)
    new = q.conn.info.server_version >= 130000
    total, mean = ("total_exec_time", "mean_exec_time") if new else ("total_time", "mean_time")
    schema = sql.Identifier(inst["schema"]).as_string(q.conn)
    out: dict[str, Any] = {}
    for key, order in (("by_total", total), ("by_mean", mean)):
        try:
            rows = await q.rows(_TOP.format(total=total, mean=mean, order=order, schema=schema), [opts.limit])
        except psycopg.errors.ObjectNotInPrerequisiteState:  # "must be loaded via shared_preload_libraries"
            raise Unavailable("pg_stat_statements is installed but not loaded (shared_preload_libraries)",
                              "pg_stat_statements in shared_preload_libraries", FIX) from None
        out[key] = [{"queryid": str(r["queryid"]), "user": r["user"], "calls": r["calls"],
                     "total_ms": round(float(r["total_ms"] or 0), 3), "mean_ms": round(float(r["mean_ms"] or 0), 3),
                     "rows": r["rows"], "query": query_text(r["query"])} for r in rows]
    return out


def sections(doc: dict[str, Any]) -> list[Section]:
    cols = ("total", "mean", "calls", "user", "query")

    def rows(items: list[dict[str, Any]]) -> list[list[str]]:
        return [[f"{r['total_ms']:.0f} ms", f"{r['mean_ms']:.1f} ms", str(r["calls"]), cell(r["user"]), r["query"]]
                for r in items]

    return [Section("Top by total time", cols, rows(doc["by_total"])),
            Section("Top by mean time", cols, rows(doc["by_mean"]))]
