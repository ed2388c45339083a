"""``accepted_values``: every non-NULL ``column`` value is one of ``values``.

Values are bound parameters. On PostgreSQL they are sent as untyped text so the server
reads them as the column's own type (integer, enum, text...).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ..config.integrity import ColumnCheck, Scalar
from .base import Aggregate, CheckType, row_condition
from .db import Db, Q, col


class AcceptedValuesCheck(ColumnCheck):
    """Every non-NULL ``column`` value is one of ``values``."""

    values: list[Scalar] = Field(min_length=1)


class AcceptedValues(CheckType):
    name: ClassVar[str] = "accepted_values"
    Spec = AcceptedValuesCheck

    def aggregate(self, spec: AcceptedValuesCheck, db: Db) -> Aggregate:
        # NULL NOT IN (...) is NULL, not true: NULLs are left to not_null
        cond = Q(col(spec.column), " NOT IN (", Q.join(", ", [db.bind(v) for v in spec.values]), ")")
        return row_condition(spec.table, cond, db, f"with {spec.column} outside the accepted values",
                             f"every {spec.column} is an accepted value")


TYPE = AcceptedValues()
