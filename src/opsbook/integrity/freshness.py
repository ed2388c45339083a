"""``freshness``: the newest ``column`` timestamp is at most ``max_age`` old.

``max(column)`` joins its table's aggregate query; the age is computed against the run's
clock (injectable). Timestamps without a time zone are read as UTC; on SQLite, text in ISO
8601 form or numbers of seconds since the epoch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from ..config.integrity import ColumnCheck
from ..durations import PositiveDuration, format_duration
from .base import Aggregate, CheckType, Finding, RunCtx, aggregate_query
from .db import Db, Q, col


class FreshnessCheck(ColumnCheck):
    """The newest ``column`` timestamp is at most ``max_age`` old."""

    max_age: PositiveDuration


def as_datetime(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        out = v
    elif isinstance(v, date):
        out = datetime(v.year, v.month, v.day)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        out = datetime.fromtimestamp(float(v), UTC)
    else:
        try:
            out = datetime.fromisoformat(str(v).strip())
        except ValueError:
            raise ValueError(f"{v!r} is not a timestamp") from None
    return out if out.tzinfo else out.replace(tzinfo=UTC)


class Freshness(CheckType):
    name: ClassVar[str] = "freshness"
    Spec = FreshnessCheck

    def aggregate(self, spec: FreshnessCheck, db: Db) -> Aggregate:
        expr = Q("max(", col(spec.column), ")")
        limit = format_duration(spec.max_age)

        def judge(values: list[Any], ctx: RunCtx) -> Finding:
            try:
                newest = as_datetime(values[0])
            except ValueError as e:
                return Finding(1, f"newest {spec.column}: {e}", hint="freshness reads timestamps")
            if newest is None:
                return Finding(1, f"{spec.table} has no {spec.column} values (max age {limit})")
            age = ctx.now - newest
            text = format_duration(max(age, timedelta(0)).total_seconds())
            if age.total_seconds() > spec.max_age:
                return Finding(1, f"newest {spec.column} is {text} old ({newest.isoformat()}), max {limit}")
            return Finding(0, f"newest {spec.column} is {text} old, max {limit}")

        return Aggregate(spec.table, [expr], judge, aggregate_query(spec.table, [expr]))


TYPE = Freshness()
