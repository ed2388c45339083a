"""``not_null``: no row has NULL in any of ``columns``. Part of its table's aggregate query."""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import NotNullCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q, col, table


class NotNull(CheckType):
    name: ClassVar[str] = "not_null"

    def aggregate(self, spec: NotNullCheck, db: Db) -> Aggregate:
        cond = Q("(", Q.join(" OR ", [Q(col(c), " IS NULL") for c in spec.columns]), ")")
        expr = db.count_if(cond)
        rows = Q("SELECT * FROM ", table(spec.table), " WHERE ", cond)

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            n = int(values[0] or 0)
            where = " or ".join(spec.columns)
            msg = f"{plural(n, 'row')} with NULL {where}" if n else f"no NULL {where}"
            return Finding(n, msg, rows=rows, where=cond)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = NotNull()
