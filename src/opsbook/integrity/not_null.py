"""``not_null``: no row has NULL in any of ``columns``. Part of its table's aggregate query."""

from __future__ import annotations

from typing import ClassVar

from ..config.integrity import ColumnsCheck
from .base import Aggregate, CheckType, row_condition
from .db import Db, Q, col


class NotNullCheck(ColumnsCheck):
    """No row has NULL in any of ``columns``."""


class NotNull(CheckType):
    name: ClassVar[str] = "not_null"
    Spec = NotNullCheck

    def aggregate(self, spec: NotNullCheck, db: Db) -> Aggregate:
        cond = Q("(", Q.join(" OR ", [Q(col(c), " IS NULL") for c in spec.columns]), ")")
        where = " or ".join(spec.columns)
        return row_condition(spec.table, cond, db, f"with NULL {where}", f"no NULL {where}")


TYPE = NotNull()
