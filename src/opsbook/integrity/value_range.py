"""``range``: every non-NULL ``column`` value lies within ``min`` .. ``max`` (both inclusive).

Numbers are bound as numbers; text bounds (dates, timestamps) are sent untyped on PostgreSQL
so the server reads them as the column's type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import RangeCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Param, Q, col, table


class Range(CheckType):
    name: ClassVar[str] = "range"

    def aggregate(self, spec: RangeCheck, db: Db) -> Aggregate:
        c = col(spec.column)
        parts = []
        if spec.min is not None:
            parts.append(Q(c, " < ", Param(spec.min)))
        if spec.max is not None:
            parts.append(Q(c, " > ", Param(spec.max)))
        cond = Q("(", Q.join(" OR ", parts), ")")  # NULL compares to NULL: not counted
        expr = db.count_if(cond)
        rows = Q("SELECT * FROM ", table(spec.table), " WHERE ", cond)
        if spec.min is not None and spec.max is not None:
            bounds = f"{spec.min}..{spec.max}"
        else:
            bounds = f">= {spec.min}" if spec.min is not None else f"<= {spec.max}"

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            n = int(values[0] or 0)
            msg = (f"{plural(n, 'row')} with {spec.column} out of range ({bounds})" if n
                   else f"every {spec.column} in range ({bounds})")
            return Finding(n, msg, rows=rows, where=cond)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = Range()
