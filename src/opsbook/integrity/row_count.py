"""``row_count``: the table has at least ``min`` and at most ``max`` rows (one violation if not)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.integrity import RowCountCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q


class RowCount(CheckType):
    name: ClassVar[str] = "row_count"

    def aggregate(self, spec: RowCountCheck, db: Db) -> Aggregate:
        expr = Q("count(*)")

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            n = int(values[0] or 0)
            has = f"{spec.table} has {plural(n, 'row')}"
            if spec.min is not None and n < spec.min:
                return Finding(1, f"{has}, expected at least {spec.min}")
            if spec.max is not None and n > spec.max:
                return Finding(1, f"{has}, expected at most {spec.max}")
            return Finding(0, has)

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = RowCount()
