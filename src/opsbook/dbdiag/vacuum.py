"""``vacuum``: transaction id wraparound distance, per database and for the oldest tables.

PostgreSQL stops assigning transaction ids near 2^31 of age; the percentage is age / 2^31. At
autovacuum_freeze_max_age (default 200 million, about 9 %) anti-wraparound autovacuums start."""

from __future__ import annotations

from typing import Any

from .base import Options, Query, Section, cell, size

NAME = "vacuum"
TITLE = "Transaction id wraparound"
NEEDS = "none (catalogs readable by every user)"
WRAP = 2**31

_DATABASES = """
SELECT datname AS database, age(datfrozenxid) AS xid_age, mxid_age(datminmxid) AS mxid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
FROM pg_database WHERE datallowconn ORDER BY 2 DESC LIMIT %s
"""
_TABLES = """
SELECT n.nspname AS schema, c.relname AS table,
       greatest(age(c.relfrozenxid), age(t.relfrozenxid)) AS xid_age, pg_total_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'm') AND c.relfrozenxid <> '0'::xid
ORDER BY 3 DESC LIMIT %s
"""


def _pct(v: Any) -> float:
    return round(100.0 * float(v or 0) / WRAP, 3)


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    dbs = await q.rows(_DATABASES, [opts.limit])
    tables = await q.rows(_TABLES, [opts.limit])
    return {
        "wraparound_pct": max((_pct(d["xid_age"]) for d in dbs), default=0.0),
        "freeze_max_age": dbs[0]["freeze_max_age"] if dbs else None,
        "databases": [{"database": d["database"], "xid_age": d["xid_age"], "mxid_age": d["mxid_age"],
                       "wraparound_pct": _pct(d["xid_age"])} for d in dbs],
        "tables": [{"table": f"{t['schema']}.{t['table']}", "xid_age": t["xid_age"], "bytes": t["bytes"],
                    "wraparound_pct": _pct(t["xid_age"])} for t in tables],
    }


def sections(doc: dict[str, Any]) -> list[Section]:
    return [
        Section(f"Databases (worst {doc['wraparound_pct']:.3f} % of the way to wraparound; anti-wraparound "
                f"autovacuum from age {cell(doc['freeze_max_age'])})", ("database", "xid age", "% to wraparound"),
                [[d["database"], str(d["xid_age"]), f"{d['wraparound_pct']:.3f}"] for d in doc["databases"]]),
        Section("Oldest tables", ("table", "xid age", "% to wraparound", "size"),
                [[t["table"], str(t["xid_age"]), f"{t['wraparound_pct']:.3f}", size(t["bytes"])]
                 for t in doc["tables"]]),
    ]
