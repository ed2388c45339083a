"""What the SQL kinds (postgres, sqlite) share: JSON-able rows and known migration tables."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ReadOnlyRefused

if TYPE_CHECKING:
    import psycopg

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


# -- user-written SQL on PostgreSQL: one statement, in a READ ONLY transaction opened by opsbook --

# SQLSTATEs of a statement that would write or leave the transaction: read_only_sql_transaction,
# active_sql_transaction ("cannot run inside a transaction block", "read-write mode must be set
# before any query"), invalid_transaction_termination (COMMIT inside DO/CALL)
_REFUSED = {"25006", "25001", "2D000"}


def _refused(e: psycopg.Error) -> bool:
    if e.sqlstate in _REFUSED:
        return True
    # the extended protocol's answer to "SELECT 1; DROP TABLE t"
    return e.sqlstate == "42601" and "multiple commands" in (e.diag.message_primary or "")


async def pg_read_only(
    conn: psycopg.AsyncConnection[Any], query: str, limit: int | None,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[Any], int]:
    """Run one user-written statement read-only: (columns, rows, total row count).

    ``default_transaction_read_only`` alone is not enough: the simple protocol runs
    ``BEGIN READ WRITE; ...; COMMIT`` as several statements, and VACUUM or ALTER SYSTEM run
    outside any transaction. So opsbook opens the transaction itself (READ ONLY, with a
    snapshot taken, after which it cannot be switched to read-write), sends the query with the
    extended protocol (one statement only, refused otherwise) and always rolls back. Raises
    ``ReadOnlyRefused`` or the driver's error. ``params`` are bound to ``%(name)s`` placeholders
    (runbook sql steps): values are never spliced into the text.
    """
    import psycopg
    from psycopg import pq

    await conn.execute("BEGIN READ ONLY")
    try:
        await conn.execute("SELECT 1")  # the snapshot: SET TRANSACTION READ WRITE is refused after it
        try:
            if psycopg.AsyncPipeline.is_supported():
                async with conn.pipeline():  # extended protocol, unnamed statement
                    cur = await conn.execute(query, params)
            else:
                cur = await conn.execute(query, params, prepare=True)
        except psycopg.Error as e:
            if _refused(e):
                raise ReadOnlyRefused(e.diag.message_primary or str(e).splitlines()[0]) from None
            raise
        if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            raise ReadOnlyRefused("the query ended opsbook's transaction")
        if cur.description is None:
            return [], [], max(cur.rowcount, 0)
        columns = [d.name for d in cur.description]
        rows = await cur.fetchall() if limit is None else await cur.fetchmany(limit)
        return columns, rows, max(cur.rowcount, len(rows))
    finally:
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):  # a lost connection rolls back on its own
                await conn.execute("ROLLBACK")


# -- user-written SQL on SQLite ----------------------------------------------------------------


def _sqlite_authorize(action: int, arg1: str | None, _arg2: str | None, _db: str | None, _src: str | None) -> int:
    # mode=ro keeps the file itself unwritten, but ATTACH creates files anywhere, and a
    # PRAGMA query_only=OFF would let a later VACUUM INTO write a copy of the database anywhere
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in ("query_only", "writable_schema"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def sqlite_read_only(conn: sqlite3.Connection) -> None:
    """Make a connection (opened with mode=ro) refuse every write, to its file or any other."""
    conn.execute("PRAGMA query_only = ON")  # refuses VACUUM INTO, which mode=ro allows
    conn.set_authorizer(_sqlite_authorize)


def sqlite_refused(text: str) -> bool:
    """An error message that means a user's statement tried to write (or to run several)."""
    marks = ("readonly", "read-only", "not authorized", "authorization denied", "one statement at a time")
    return any(m in text for m in marks)
