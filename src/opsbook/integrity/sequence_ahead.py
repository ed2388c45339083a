"""``sequence_ahead``: every sequence / identity will hand out a value above its column's max.

After a restore or a manual import a sequence can lag behind the data, and the next INSERT
fails with a duplicate key. PostgreSQL: the sequences owned by a column (``serial``,
``GENERATED ... AS IDENTITY``) are found in the catalog; the next value (``last_value +
increment`` once called, else ``start_value``) must exceed ``max(column)``. One violation per
lagging sequence; the hint has the ``setval`` statements that fix them.

SQLite picks a new rowid above the largest in use (AUTOINCREMENT above the largest ever
used), so a rowid cannot lag: the check passes there and says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ..config.integrity import IntegrityCheckBase
from .base import CheckType, Finding, RunCtx, plural
from .db import Db, Ident, PgDb, Q, col

OWNED_SEQUENCES = """SELECT sn.nspname AS sequence_schema, sc.relname AS sequence_name,
       tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name,
       s.last_value, s.start_value, s.increment_by
FROM pg_depend d
JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = sc.relnamespace
JOIN pg_sequences s ON s.schemaname = sn.nspname AND s.sequencename = sc.relname
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND tn.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY tn.nspname, t.relname, a.attname"""


class SequenceAheadCheck(IntegrityCheckBase):
    """Every sequence / identity will hand out a value above the largest in its column."""

    tables: list[str] | None = Field(default=None, description="limit to these tables; default all")


def _wanted(tables: list[str] | None, schema: str, name: str) -> bool:
    return tables is None or name in tables or f"{schema}.{name}" in tables


class SequenceAhead(CheckType):
    name: ClassVar[str] = "sequence_ahead"
    Spec = SequenceAheadCheck

    async def run(self, spec: SequenceAheadCheck, db: Db, ctx: RunCtx) -> Finding:
        if not isinstance(db, PgDb):
            return Finding(0, "SQLite chooses rowids above the largest in use: no sequence can lag")
        _, seqs, _ = await db.fetch(OWNED_SEQUENCES)
        lagging: list[dict[str, Any]] = []
        fixes: list[str] = []
        checked = 0
        for seq_schema, seq_name, t_schema, t_name, column, last, start, step in seqs:
            if not _wanted(spec.tables, t_schema, t_name):
                continue
            checked += 1
            _, rows, _ = await db.fetch(Q("SELECT max(", col(column), ") FROM ", Ident((t_schema, t_name))))
            top = rows[0][0]
            upcoming = start if last is None else last + step
            if top is None or step < 0 or upcoming > top:
                continue
            qualified = f"{seq_schema}.{seq_name}"
            lagging.append({"sequence": qualified, "table": f"{t_schema}.{t_name}", "column": column,
                            "next_value": upcoming, "max_value": top})
            regclass = db.printable(Q(Ident((seq_schema, seq_name))))
            fixes.append(db.printable(Q("SELECT setval(", db.bind(regclass), ", (SELECT max(", col(column),
                                        ") FROM ", Ident((t_schema, t_name)), "))")) + ";")
        n = len(lagging)
        if n:
            names = ", ".join(f"{x['sequence']} ({x['next_value']} <= {x['max_value']})" for x in lagging)
            msg = f"{plural(n, 'sequence')} behind the data: {names}"
        else:
            msg = f"{plural(checked, 'sequence')} ahead of their columns"
        return Finding(n, msg, sql=OWNED_SEQUENCES, samples=lagging, hint=" ".join(fixes))


TYPE = SequenceAhead()
