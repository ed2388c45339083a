"""``row_count``: the table has at least ``min`` and at most ``max`` rows (one violation if not)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from ..config.integrity import TableCheck
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query, plural
from .db import Db, Q


class RowCountCheck(TableCheck):
    """The table has between ``min`` and ``max`` rows."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountCheck:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min:, max: or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is greater than max: {self.max}")
        return self


class RowCount(CheckType):
    name: ClassVar[str] = "row_count"
    Spec = RowCountCheck

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
