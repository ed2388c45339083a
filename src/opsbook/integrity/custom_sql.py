"""``sql``: any read-only query.

With ``expect`` (the assertion language over ``value`` — first column of the first row —,
``rows`` and ``row_count``), a false expectation is one violation. Without it, every row
the query returns is a violation (write the query to list the bad rows), and the first
rows are the samples.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from ..checks._sql import MAX_ROWS, rows_observations
from ..config.integrity import ExpectField, IntegrityCheckBase
from .base import CheckType, Finding, RunCtx, plural
from .db import Db


class SqlCheck(IntegrityCheckBase):
    """Any query; with ``expect``, an assertion over value/rows/row_count, else its rows are violations."""

    name: str | None = Field(default=None, description="required for sql checks")
    query: str
    expect: ExpectField | None = Field(default=None, description="e.g. value == 0")

    @model_validator(mode="after")
    def _named(self) -> SqlCheck:
        if not self.name:
            raise ValueError("an sql check needs name:")
        return self


class Sql(CheckType):
    name: ClassVar[str] = "sql"
    Spec = SqlCheck

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
