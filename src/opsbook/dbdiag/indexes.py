"""``indexes``: unused (never scanned since statistics were reset), duplicate (the same columns as,
or a leading prefix of, another index of the same table and kind) and invalid (a failed
CREATE INDEX CONCURRENTLY left it behind: it is maintained on every write but never used)."""

from __future__ import annotations

from typing import Any

from .base import Options, Query, Section, size

NAME = "indexes"
TITLE = "Indexes"
NEEDS = "none (statistics views readable by every user)"

MAX_INDEXES = 20_000  # the duplicate search reads every index definition; a database with more is truncated
# ordered by the catalog's page count (kept by CREATE INDEX and VACUUM): measuring thousands of
# indexes' files would cost more than the rest of the report; the rows shown are measured
_UNUSED = """
SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid JOIN pg_class c ON c.oid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
ORDER BY c.relpages DESC, 1, 3 LIMIT %s
"""
_ALL = """
SELECT i.indexrelid AS oid, n.nspname AS schema, t.relname AS table, c.relname AS index, i.indrelid AS table_oid,
       am.amname AS method, i.indkey::text AS keys, i.indclass::text AS classes, i.indisunique AS is_unique,
       i.indisprimary AS is_primary, coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
       coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred, i.indisvalid AS valid, i.indnkeyatts AS nkeys
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
ORDER BY i.indexrelid LIMIT %s
"""
_SIZES = "SELECT c.oid, pg_relation_size(c.oid) AS bytes FROM pg_class c WHERE c.oid = ANY(%s::oid[])"


def covered_by(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when index ``a`` is redundant given ``b``: same table, method, expressions and predicate,
    and a's key columns (with their operator classes) are a leading prefix of b's. A unique index
    is only redundant with an identical unique one (it enforces something a longer one does not)."""
    if a["oid"] == b["oid"] or a["table_oid"] != b["table_oid"] or a["method"] != b["method"]:
        return False
    if a["exprs"] != b["exprs"] or a["pred"] != b["pred"] or not a["valid"] or not b["valid"]:
        return False
    ak, bk = a["keys"].split()[: a["nkeys"]], b["keys"].split()[: b["nkeys"]]
    ac, bc = a["classes"].split(), b["classes"].split()
    if a["method"] not in ("btree",) and ak != bk:  # only btree prefixes serve the shorter index's scans
        return False
    if bk[: len(ak)] != ak or bc[: len(ac)] != ac:
        return False
    if a["is_unique"] or a["is_primary"]:
        return ak == bk and bool(b["is_unique"]) and not a["is_primary"] and bool(a["oid"] > b["oid"])
    if ak == bk and not b["is_unique"] and not b["is_primary"]:
        return bool(a["oid"] > b["oid"])  # identical twins: report the newer one only
    return True


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    unused = await q.rows(_UNUSED, [opts.limit])
    everything = await q.rows(_ALL, [MAX_INDEXES + 1])
    truncated = len(everything) > MAX_INDEXES
    by_table: dict[int, list[dict[str, Any]]] = {}
    for ix in everything[:MAX_INDEXES]:
        by_table.setdefault(ix["table_oid"], []).append(ix)
    dups = []
    for group in by_table.values():
        for a in group:
            b = next((b for b in group if covered_by(a, b)), None)
            if b is not None:
                dups.append((a, b))
    invalid = [ix for ix in everything if not ix["valid"]][: opts.limit]
    dups = dups[: opts.limit]
    wanted = [a["oid"] for a, _ in dups] + [ix["oid"] for ix in invalid]
    sizes = {r["oid"]: r["bytes"] for r in await q.rows(_SIZES, [wanted])} if wanted else {}

    def name(ix: dict[str, Any]) -> str:
        return f"{ix['schema']}.{ix['index']}"

    return {
        "count": min(len(everything), MAX_INDEXES), "truncated": truncated,
        "unused": [{"index": f"{r['schema']}.{r['index']}", "table": f"{r['schema']}.{r['table']}",
                    "bytes": r["bytes"]} for r in unused],
        "duplicate": [{"index": name(a), "covered_by": name(b), "table": f"{a['schema']}.{a['table']}",
                       "bytes": sizes.get(a["oid"])} for a, b in dups],
        "invalid": [{"index": name(ix), "table": f"{ix['schema']}.{ix['table']}", "bytes": sizes.get(ix["oid"])}
                    for ix in invalid],
    }


def sections(doc: dict[str, Any]) -> list[Section]:
    return [
        Section("Unused (never scanned since the statistics reset; not unique)", ("index", "table", "size"),
                [[r["index"], r["table"], size(r["bytes"])] for r in doc["unused"]]),
        Section("Duplicate (covered by another index)", ("index", "covered by", "table", "size"),
                [[r["index"], r["covered_by"], r["table"], size(r["bytes"])] for r in doc["duplicate"]]),
        Section("Invalid (drop and re-create)", ("index", "table", "size"),
                [[r["index"], r["table"], size(r["bytes"])] for r in doc["invalid"]]),
    ]
