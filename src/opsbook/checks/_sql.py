"""What the SQL kinds (postgres, sqlite) share: JSON-able rows and known migration tables."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from typing import Any

MAX_ROWS = 100  # rows kept in the ``rows`` observation; a check result is not a data export

# Migration tools' bookkeeping tables, in auto-detect order, with the expression naming the
# newest applied migration and the column that orders them (None: the table has one row).
MIGRATION_TABLES: dict[str, tuple[str, str | None]] = {
    "_sqlx_migrations": ("version", "version"),
    "alembic_version": ("version_num", None),
    "schema_migrations": ("version", "version"),
    "knex_migrations": ("name", "id"),
    "django_migrations": ("name", "id"),
    "__drizzle_migrations": ("hash", "created_at"),
    "_prisma_migrations": ("migration_name", "migration_name"),
    "flyway_schema_history": ("version", "installed_rank"),
    "goose_db_version": ("version_id", "id"),
}


def jsonable(v: Any) -> Any:
    """A database value as JSON: numbers stay numbers so assertions can compare them."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            return str(v)
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dt.timedelta):
        return v.total_seconds() * 1000  # durations are milliseconds everywhere
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        b = bytes(v)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return b.hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [jsonable(x) for x in v]
    return str(v)  # ranges, inet, enums...: their text form is what a user would write


def rows_observations(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], row_count: int
) -> dict[str, Any]:
    """``value`` (first column of first row), ``rows`` (bounded) and ``row_count``."""
    kept = [{c: jsonable(x) for c, x in zip(columns, r, strict=False)} for r in rows[:MAX_ROWS]]
    return {
        "value": jsonable(rows[0][0]) if rows and len(rows[0]) else None,
        "rows": kept,
        "row_count": row_count,
    }


def no_migrations(table: str | None) -> dict[str, Any]:
    """The ``migrations`` observation when no table was found: ``count > 0`` then fails clearly."""
    return {"table": table, "exists": False, "count": 0, "latest": None}
