"""``pattern``: every non-NULL ``column`` value matches ``regex`` (searched: anchor with ^ $).

PostgreSQL evaluates it with ``!~`` (POSIX regular expressions); SQLite through a REGEXP
function backed by Python's ``re``. Common patterns read the same in both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import PatternCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q, col, table


class Pattern(CheckType):
    name: ClassVar[str] = "pattern"

    def aggregate(self, spec: PatternCheck, db: Db) -> Aggregate:
        cond = db.not_matching(Q(col(spec.column)), spec.regex)  # NULL gives NULL: not counted
        expr = db.count_if(cond)
        rows = Q("SELECT * FROM ", table(spec.table), " WHERE ", cond)

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            n = int(values[0] or 0)
            msg = (f"{plural(n, 'row')} with {spec.column} not matching {spec.regex}" if n
                   else f"every {spec.column} matches {spec.regex}")
            return Finding(n, msg, rows=rows, where=cond)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = Pattern()
