"""``pattern``: every non-NULL ``column`` value matches ``regex`` (searched: anchor with ^ $).

PostgreSQL evaluates it with ``!~`` (POSIX regular expressions); SQLite through a REGEXP
function backed by Python's ``re``. Common patterns read the same in both.
"""

from __future__ import annotations

from typing import ClassVar

from ..config.integrity import PatternCheck
from .base import Aggregate, CheckType, row_condition
from .db import Db, Q, col


class Pattern(CheckType):
    name: ClassVar[str] = "pattern"

    def aggregate(self, spec: PatternCheck, db: Db) -> Aggregate:
        cond = db.not_matching(Q(col(spec.column)), spec.regex)  # NULL gives NULL: not counted
        return row_condition(spec.table, cond, db, f"with {spec.column} not matching {spec.regex}",
                             f"every {spec.column} matches {spec.regex}")


TYPE = Pattern()
