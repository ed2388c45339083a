"""What an integrity check type is.

A type either contributes expressions to its table's shared aggregate query
(``aggregate`` returns an ``Aggregate``) or runs statements of its own (``run``). Either way
it returns a ``Finding``: the violation count, a message, and the query that lists the
violating rows, from which the engine fetches samples (with a LIMIT) and prints the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ..config.integrity import IntegrityCheckBase
from .db import Db, Q, table


@dataclass
class RunCtx:
    now: datetime
    sample_rows: int


@dataclass
class Finding:
    violations: int
    message: str
    rows: Q | None = None  # lists the violating rows: printed, and sampled with a LIMIT
    # the condition that makes a row of the check's table a violation: lets the engine sample
    # several checks of one table in a single scan
    where: Q | None = None
    sample: Q | None = None  # a cheaper statement for the samples than ``rows`` + LIMIT
    sql: str = ""  # the statement that found them, when there is no ``rows`` query
    samples: list[dict[str, Any]] | None = None  # given by the type itself (schema, sequences)
    hint: str = ""


@dataclass
class Aggregate:
    """Expressions for ``SELECT <exprs> FROM <table>``, and how to judge their values."""

    table: str
    exprs: list[Q]
    judge: Callable[[list[Any], RunCtx], Finding]
    # the statement this check would run alone (printed when it finds nothing to list)
    alone: Q = field(default_factory=Q)
    serial: bool = False  # an expression PostgreSQL cannot compute in parallel (DISTINCT)


class CheckType:
    """An integrity check type: its name, its config model (``Spec``: the keys under its type
    key) and how it runs. One module per type, with its model, listed in registry.py."""

    name: ClassVar[str]
    Spec: ClassVar[type[IntegrityCheckBase]]

    def aggregate(self, spec: Any, db: Db) -> Aggregate | None:
        """The expressions to fold into the table's aggregate query; None: ``run`` instead."""
        return None

    async def run(self, spec: Any, db: Db, ctx: RunCtx) -> Finding:
        """Run alone; aggregate types run their expressions as a one-check aggregate query."""
        agg = self.aggregate(spec, db)
        if agg is None:  # pragma: no cover - every type overrides one of the two
            raise AssertionError(f"{self.name} has neither aggregate() nor run()")
        q = aggregate_query(agg.table, agg.exprs)
        _, rows, _ = await db.fetch(q)
        return agg.judge(list(rows[0]), ctx)


def row_condition(table_name: str, cond: Q, db: Db, found: str, clean: str) -> Aggregate:
    """The shape of not_null, accepted_values, range and pattern: a violation is a row matching
    ``cond``. ``found`` completes "<n> rows ..."; ``clean`` is the message when there are none."""
    expr = db.count_if(cond)
    rows = Q("SELECT * FROM ", table(table_name), " WHERE ", cond)

    def judge(values: list[Any], ctx: RunCtx) -> Finding:
        n = int(values[0] or 0)
        return Finding(n, f"{plural(n, 'row')} {found}" if n else clean, rows=rows, where=cond)

    return Aggregate(table_name, [expr], judge, aggregate_query(table_name, [expr]))


def aggregate_query(table_name: str, exprs: list[Q]) -> Q:
    return Q("SELECT ", Q.join(", ", exprs), " FROM ", table(table_name))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
