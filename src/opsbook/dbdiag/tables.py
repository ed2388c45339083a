"""``tables``: the largest tables with dead tuples, a bloat estimate and when they were last
vacuumed and analyzed; the tables with the most dead tuples; sequential scans on big tables.

"Largest" is measured exactly (pg_total_relation_size) among the candidates the catalog's page
counts name, 5 per row asked: a table bulk-loaded since its last VACUUM or ANALYZE may be missed
until autovacuum gets to it.

The bloat estimate compares the pages a table has with the pages its live rows need (from the
planner's row count and pg_stats' average column widths, plus the tuple header and line pointer,
at the table's fillfactor). It is an estimate: a table never analyzed has none."""

from __future__ import annotations

from typing import Any

from .base import Options, Query, Section, age, cell, size

NAME = "tables"
TITLE = "Tables"
NEEDS = "none (statistics views readable by every user; pg_stats shows the columns you may read)"

BIG_BYTES = 10 * 1024 * 1024  # "a big table" for the sequential scan list
_USER = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%' "
         "AND c.relkind IN ('r', 'p', 'm')")
# Measuring every table (pg_total_relation_size stats each file) costs ~0.15 s per 1,000 tables on a
# cold connection, so candidates are picked by the catalog's page counts (kept by VACUUM, ANALYZE
# and CREATE INDEX) and only those are measured, then sorted by their real size.
_LARGEST = f"""
WITH cand AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS table, c.reltuples, c.relpages,
         coalesce((SELECT option_value::int FROM pg_options_to_table(c.reloptions) WHERE option_name = 'fillfactor'),
                  100) AS fillfactor
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE {_USER}
  ORDER BY c.relpages + coalesce(t.relpages, 0)
           + coalesce((SELECT sum(ic.relpages) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                       WHERE x.indrelid = c.oid), 0) DESC
  LIMIT %(candidates)s
), top AS (
  SELECT cand.*, pg_total_relation_size(cand.oid) AS total_bytes, pg_relation_size(cand.oid) AS bytes FROM cand
  ORDER BY total_bytes DESC LIMIT %(limit)s
)
SELECT top.*, s.n_live_tup AS live, s.n_dead_tup AS dead, s.seq_scan, s.idx_scan,
       extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum)) AS vacuumed_ago_s,
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze)) AS analyzed_ago_s,
       (SELECT sum(st.avg_width) FROM pg_stats st WHERE st.schemaname = top.schema AND st.tablename = top.table)
         AS row_width
FROM top LEFT JOIN pg_stat_all_tables s ON s.relid = top.oid
ORDER BY top.total_bytes DESC
"""
_DEAD = f"""
SELECT n.nspname AS schema, c.relname AS table, s.n_live_tup AS live, s.n_dead_tup AS dead,
       extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum)) AS vacuumed_ago_s
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER} AND s.n_dead_tup > 0
ORDER BY s.n_dead_tup DESC LIMIT %s
"""
_SEQ = f"""
SELECT n.nspname AS schema, c.relname AS table, s.seq_scan, s.seq_tup_read, s.idx_scan,
       pg_relation_size(c.oid) AS bytes
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER} AND s.seq_scan > 0 AND c.relpages * current_setting('block_size')::bigint >= %s
ORDER BY s.seq_tup_read DESC LIMIT %s
"""


def bloat(bytes_: Any, reltuples: Any, row_width: Any, fillfactor: int, block: int = 8192) -> int | None:
    """Estimated bytes beyond what the live rows need (0 when none); None without statistics."""
    if row_width is None or reltuples is None or float(reltuples) < 0 or not bytes_:
        return None
    per_row = 23 + 1 + 4 + float(row_width)  # header (+ null bitmap, roughly), line pointer, data
    usable = (block - 24) * fillfactor / 100.0
    need_pages = -(-float(reltuples) * per_row // usable)
    return max(0, int(int(bytes_) - need_pages * block))


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    largest = await q.rows(_LARGEST, {"candidates": opts.limit * 5, "limit": opts.limit})  # type: ignore[arg-type]
    dead = await q.rows(_DEAD, [opts.limit])
    seq = await q.rows(_SEQ, [BIG_BYTES, opts.limit])
    return {
        "largest": [{"table": f"{r['schema']}.{r['table']}", "total_bytes": r["total_bytes"], "bytes": r["bytes"],
                     "live": r["live"], "dead": r["dead"],
                     "bloat_bytes": bloat(r["bytes"], r["reltuples"], r["row_width"], r["fillfactor"]),
                     "seq_scan": r["seq_scan"], "idx_scan": r["idx_scan"],
                     "vacuumed_ago_s": r["vacuumed_ago_s"], "analyzed_ago_s": r["analyzed_ago_s"]}
                    for r in largest],
        "dead_tuples": [{"table": f"{r['schema']}.{r['table']}", "live": r["live"], "dead": r["dead"],
                         "dead_pct": round(100.0 * r["dead"] / max(1, r["live"] + r["dead"]), 2),
                         "vacuumed_ago_s": r["vacuumed_ago_s"]} for r in dead],
        "seq_scans_on_big_tables": [{"table": f"{r['schema']}.{r['table']}", "seq_scan": r["seq_scan"],
                                     "seq_tup_read": r["seq_tup_read"], "idx_scan": r["idx_scan"],
                                     "bytes": r["bytes"]} for r in seq],
        "big_bytes": BIG_BYTES,
    }


def _ago(v: Any) -> str:
    return "never" if v is None else age(v) + " ago"


def sections(doc: dict[str, Any]) -> list[Section]:
    return [
        Section("Largest", ("table", "total", "table only", "live", "dead", "bloat (est.)", "vacuumed", "analyzed"),
                [[r["table"], size(r["total_bytes"]), size(r["bytes"]), cell(r["live"]), cell(r["dead"]),
                  size(r["bloat_bytes"]), _ago(r["vacuumed_ago_s"]), _ago(r["analyzed_ago_s"])]
                 for r in doc["largest"]]),
        Section("Most dead tuples", ("table", "dead", "dead %", "vacuumed"),
                [[r["table"], str(r["dead"]), f"{r['dead_pct']:.1f}", _ago(r["vacuumed_ago_s"])]
                 for r in doc["dead_tuples"]]),
        Section(f"Sequential scans on tables over {size(doc['big_bytes'])}",
                ("table", "seq scans", "rows read by them", "index scans", "size"),
                [[r["table"], str(r["seq_scan"]), str(r["seq_tup_read"]), cell(r["idx_scan"]), size(r["bytes"])]
                 for r in doc["seq_scans_on_big_tables"]]),
    ]
