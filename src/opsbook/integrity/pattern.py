"""``pattern``: every non-NULL ``column`` value matches ``regex`` (searched: anchor with ^ $).

PostgreSQL evaluates it with ``!~`` (POSIX regular expressions); SQLite through a REGEXP
function backed by Python's ``re``. Common patterns read the same in both.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import model_validator

from ..config.integrity import ColumnCheck
from .base import Aggregate, CheckType, row_condition
from .db import Db, Q, col


class PatternCheck(ColumnCheck):
    """Every non-NULL ``column`` value matches ``regex`` (searched, anchor it with ^...$)."""

    regex: str

    @model_validator(mode="after")
    def _compiles(self) -> PatternCheck:
        try:
            re.compile(self.regex)
        except re.error as e:
            raise ValueError(f"regex: {e}") from None
        return self


class Pattern(CheckType):
    name: ClassVar[str] = "pattern"
    Spec = PatternCheck

    def aggregate(self, spec: PatternCheck, db: Db) -> Aggregate:
        cond = db.not_matching(Q(col(spec.column)), spec.regex)  # NULL gives NULL: not counted
        return row_condition(spec.table, cond, db, f"with {spec.column} not matching {spec.regex}",
                             f"every {spec.column} matches {spec.regex}")


TYPE = Pattern()
