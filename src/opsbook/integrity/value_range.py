"""``range``: every non-NULL ``column`` value lies within ``min`` .. ``max`` (both inclusive).

Numbers are bound as numbers; text bounds (dates, timestamps) are sent untyped on PostgreSQL
so the server reads them as the column's type.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from ..config.integrity import ColumnCheck
from .base import Aggregate, CheckType, row_condition
from .db import Db, Param, Q, col


class RangeCheck(ColumnCheck):
    """Every non-NULL ``column`` value lies within ``min``..``max`` (inclusive)."""

    min: int | float | str | None = None
    max: int | float | str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("range needs min:, max: or both")
        return self


class Range(CheckType):
    name: ClassVar[str] = "range"
    Spec = RangeCheck

    def aggregate(self, spec: RangeCheck, db: Db) -> Aggregate:
        c = col(spec.column)
        parts = []
        if spec.min is not None:
            parts.append(Q(c, " < ", Param(spec.min)))
        if spec.max is not None:
            parts.append(Q(c, " > ", Param(spec.max)))
        cond = Q("(", Q.join(" OR ", parts), ")")  # NULL compares to NULL: not counted
        if spec.min is not None and spec.max is not None:
            bounds = f"{spec.min}..{spec.max}"
        else:
            bounds = f">= {spec.min}" if spec.min is not None else f"<= {spec.max}"
        return row_condition(spec.table, cond, db, f"with {spec.column} out of range ({bounds})",
                             f"every {spec.column} in range ({bounds})")


TYPE = Range()
