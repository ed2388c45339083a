"""``accepted_values``: every non-NULL ``column`` value is one of ``values``.

Values are bound parameters. On PostgreSQL they are sent as untyped text so the server
reads them as the column's own type (integer, enum, text...).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import AcceptedValuesCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q, col, table


class AcceptedValues(CheckType):
    name: ClassVar[str] = "accepted_values"

    def aggregate(self, spec: AcceptedValuesCheck, db: Db) -> Aggregate:
        # NULL NOT IN (...) is NULL, not true: NULLs are left to not_null
        cond = Q(col(spec.column), " NOT IN (", Q.join(", ", [db.bind(v) for v in spec.values]), ")")
        expr = db.count_if(cond)
        rows = Q("SELECT * FROM ", table(spec.table), " WHERE ", cond)

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            n = int(values[0] or 0)
            msg = (f"{plural(n, 'row')} with {spec.column} outside the accepted values" if n
                   else f"every {spec.column} is an accepted value")
            return Finding(n, msg, rows=rows, where=cond)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = AcceptedValues()
