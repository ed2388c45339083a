"""Counts of events in several windows ending at the same time, in one query: a helper for the
owners of time-stamped tables (checks.py, runs.py); it is given the table and columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .db import Tx


def window_counts(tx: Tx, table: str, at: str, where: str, params: Sequence[Any], bad: str,
                  bad_params: Sequence[Any], starts: list[datetime], now: datetime,
                  excluded: list[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    """(events, bad events) in (start, now] for each start, the ``excluded`` spans left out."""
    db = tx.db
    cols, col_params = [], []
    for s in starts:
        cols.append(f"sum(CASE WHEN {at} > ? THEN 1 ELSE 0 END), sum(CASE WHEN {at} > ? THEN {bad} ELSE 0 END)")
        col_params += [db.ts(s), db.ts(s), *bad_params]
    skip = "".join(f" AND NOT ({at} > ? AND {at} <= ?)" for _ in excluded)
    skip_params = [db.ts(x) for span in excluded for x in span]
    sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {where} AND {at} > ? AND {at} <= ?{skip}"
    row = tx.one(sql, [*col_params, *params, db.ts(min(starts)), db.ts(now), *skip_params])
    assert row is not None
    return [(int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i in range(len(starts))]
