"""``references``: every non-NULL ``column`` value exists in ``to`` (an anti-join).

A NULL child value is allowed, as a foreign key allows it; orphans are counted with
``NOT EXISTS``, which the planner runs as a hash or merge anti-join.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from ..config.integrity import ColumnCheck
from .base import CheckType, Finding, RunCtx, plural
from .db import Db, Ident, Q, table


class ReferencesCheck(ColumnCheck):
    """Every non-NULL ``column`` value exists in ``to`` (``table.column``)."""

    to: str = Field(description="the referenced table.column, e.g. habits.id")

    @model_validator(mode="after")
    def _dotted(self) -> ReferencesCheck:
        table, _, col = self.to.rpartition(".")
        if not table or not col:
            raise ValueError(f"to: {self.to!r} must name table.column, e.g. habits.id")
        return self

    @property
    def to_table(self) -> str:
        return self.to.rpartition(".")[0]

    @property
    def to_column(self) -> str:
        return self.to.rpartition(".")[2]


def _orphans(spec: ReferencesCheck) -> Q:
    child = Ident(("c", spec.column))
    parent = Ident(("p", spec.to_column))
    return Q(" FROM ", table(spec.table), " AS c WHERE ", child, " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ",
             table(spec.to_table), " AS p WHERE ", parent, " = ", child, ")")


class References(CheckType):
    name: ClassVar[str] = "references"
    Spec = ReferencesCheck

    async def run(self, spec: ReferencesCheck, db: Db, ctx: RunCtx) -> Finding:
        _, rows, _ = await db.fetch(Q("SELECT count(*)", _orphans(spec)))
        n = int(rows[0][0] or 0)
        msg = (f"{plural(n, 'row')} of {spec.table}.{spec.column} not in {spec.to}" if n
               else f"every {spec.table}.{spec.column} is in {spec.to}")
        return Finding(n, msg, rows=Q("SELECT c.*", _orphans(spec)))


TYPE = References()
