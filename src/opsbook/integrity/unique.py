"""``unique``: no two rows share the same non-NULL values of ``columns``.

The violation count is the number of surplus rows: rows beyond the first of each key, i.e.
how many rows a de-duplication would remove. One column folds into its table's aggregate
query as ``count(col) - count(DISTINCT col)`` (both skip NULLs, as a UNIQUE constraint does);
a compound key cannot be counted that way across dialects, so it runs alone as a
``GROUP BY ... HAVING count(*) > 1`` subquery.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import ColumnsCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q, col, table


class UniqueCheck(ColumnsCheck):
    """No two rows share the same (non-NULL) values of ``columns``."""


def _key(spec: UniqueCheck) -> Q:
    return Q.join(", ", [col(c) for c in spec.columns])


def _duplicated_keys(spec: UniqueCheck) -> Q:
    not_null = Q.join(" AND ", [Q(col(c), " IS NOT NULL") for c in spec.columns])
    return Q("SELECT ", _key(spec), " FROM ", table(spec.table), " WHERE ", not_null,
             " GROUP BY ", _key(spec), " HAVING count(*) > 1")


def _rows(spec: UniqueCheck) -> Q:
    key = _key(spec) if len(spec.columns) == 1 else Q("(", _key(spec), ")")
    # ordered by key so the rows sharing one sit together in the samples
    return Q("SELECT * FROM ", table(spec.table), " WHERE ", key, " IN (", _duplicated_keys(spec), ")",
             " ORDER BY ", _key(spec))


def _sample(spec: UniqueCheck, limit: int) -> Q:
    # the first few duplicated keys, then their rows: one grouping pass and one filtered scan,
    # where ``rows`` + LIMIT would join the whole grouping back to the table
    key = _key(spec) if len(spec.columns) == 1 else Q("(", _key(spec), ")")
    return Q("SELECT * FROM ", table(spec.table), " WHERE ", key, " IN (", _duplicated_keys(spec),
             f" LIMIT {int(limit)}) ORDER BY ", _key(spec), f" LIMIT {int(limit)}")


def _finding(spec: UniqueCheck, n: int, ctx: RunCtx) -> Finding:
    key = ", ".join(spec.columns)
    msg = f"{plural(n, 'duplicate row')} by ({key})" if n else f"({key}) is unique"
    return Finding(n, msg, rows=_rows(spec), sample=_sample(spec, ctx.sample_rows))


class Unique(CheckType):
    name: ClassVar[str] = "unique"
    Spec = UniqueCheck

    def aggregate(self, spec: UniqueCheck, db: Db) -> Aggregate | None:
        if len(spec.columns) != 1:
            return None
        c = col(spec.columns[0])
        expr = Q("count(", c, ") - count(DISTINCT ", c, ")")

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            return _finding(spec, int(values[0] or 0), ctx)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]), serial=True)

    async def run(self, spec: UniqueCheck, db: Db, ctx: RunCtx) -> Finding:
        if len(spec.columns) == 1:
            return await super().run(spec, db, ctx)
        counts = Q("SELECT count(*) AS n FROM ", table(spec.table), " WHERE ",
                   Q.join(" AND ", [Q(col(c), " IS NOT NULL") for c in spec.columns]),
                   " GROUP BY ", _key(spec), " HAVING count(*) > 1")
        _, rows, _ = await db.fetch(Q("SELECT coalesce(sum(n - 1), 0) FROM (", counts, ") AS dup"))
        return _finding(spec, int(rows[0][0] or 0), ctx)


TYPE = Unique()
