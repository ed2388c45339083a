"""``sql``: any read-only query.

With ``expect`` (the assertion language over ``value`` — first column of the first row —,
``rows`` and ``row_count``), a false expectation is one violation. Without it, every row
the query returns is a violation (write the query to list the bad rows), and the first
rows are the samples.
"""

from __future__ import annotations

from typing import ClassVar

from ..checks._sql import MAX_ROWS, rows_observations
from ..config.integrity import SqlCheck
from .base import CheckType, Finding, RunCtx, plural
from .db import Db


class Sql(CheckType):
    name: ClassVar[str] = "sql"

    async def run(self, spec: SqlCheck, db: Db, ctx: RunCtx) -> Finding:
        keep = max(ctx.sample_rows, MAX_ROWS) if spec.expect is not None else ctx.sample_rows
        columns, rows, count = await db.fetch_user(spec.query, limit=keep)
        obs = rows_observations(columns, rows, count)
        if spec.expect is None:
            return Finding(count, f"query returned {plural(count, 'row')}" if count else "query returned no rows",
                           sql=spec.query, samples=obs["rows"][: ctx.sample_rows])
        outcome = spec.expect.evaluate(obs)
        if outcome.ok:
            return Finding(0, f"{spec.expect.expr}: ok (value {obs['value']!r})", sql=spec.query, samples=[])
        return Finding(1, outcome.message or f"{spec.expect.expr} is false", sql=spec.query,
                       samples=obs["rows"][: ctx.sample_rows])


TYPE = Sql()
