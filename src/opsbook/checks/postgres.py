"""``postgres``: connect, optionally run a read-only query and look at the migrations table.

The readiness probe of the seeds ("SELECT 1 + migrations table non-empty") is
``postgres: {resource: db, migrations: true}`` with ``expect: [migrations.count > 0]``.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # imported where used: the CLI starts fast and loads only what a run needs
    import psycopg
    from psycopg import sql
from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import PostgresResource
from ..config.secrets import Secret, reveal
from ..dbdiag.observe import OBSERVATIONS as DIAGNOSTICS
from ..errors import READ_ONLY_HINT, ProbeError, ReadOnlyRefused
from ._sql import (
    MAX_ROWS,
    MIGRATION_TABLES,
    jsonable,
    no_migrations,
    pg_read_only,
    rows_observations,
)
from .base import Probe, ProbeContext

_STATUS = """
SELECT pg_is_in_recovery(),
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int
"""
_FIND_KNOWN = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'v')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_FIND_NAMED = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s)
"""


class PostgresParams(CheckParams):
    dsn: Secret | None = Field(
        default=None, description="postgresql://... ; overrides the resource's"
    )
    query: str | None = Field(
        default=None, description="SQL run read-only; gives value, rows, row_count"
    )
    migrations: bool | str | None = Field(
        default=None,
        description="true: find a known migrations table (alembic, sqlx, prisma...); or its name",
    )
    diagnostics: bool | None = Field(
        default=None,
        description="true: add the `opsbook db` observations (connections.idle_in_transaction, locks.blocked...); "
                    "default: when the check's expect or warn reads one of them",
    )


class PostgresCheck:
    name: ClassVar[str] = "postgres"
    Params: ClassVar[type[CheckParams]] = PostgresParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("postgres",)
    # with migrations: asked for, users add `migrations.count > 0` (documented readiness recipe)
    default_expect: ClassVar[tuple[str, ...]] = ("connected == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("psycopg",)
    observations: ClassVar[dict[str, str]] = {
        "connected": "true once connected and authenticated",
        "value": "first column of the first row of query",
        "rows": "query's rows as objects, at most 100",
        "row_count": "number of rows query returned (or affected)",
        "server_version": "server version, e.g. '15.19'",
        "server_version_num": "server version as a number, e.g. 150019",
        "in_recovery": "true on a standby (pg_is_in_recovery())",
        "connections": "{used, max, ratio}: client backends against max_connections",
        "migrations": "{table, exists, count, latest} when migrations: is set",
        "duration": "wall time in milliseconds",
        **DIAGNOSTICS,
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: PostgresParams = params
        dsn = _dsn(p, ctx)
        start = time.perf_counter()
        conn = await _connect(dsn, ctx.timeout)
        try:
            obs = await _observe(conn, p, ctx.timeout, ctx.reads)
        finally:
            await conn.close()
        obs["duration"] = round((time.perf_counter() - start) * 1000, 3)
        summary = f"PostgreSQL {obs['server_version']}"
        if p.query is not None:
            summary += f", query returned {obs['row_count']} row(s)"
        if "migrations" in obs:
            m = obs["migrations"]
            summary += (
                f", {m['count']} migration(s) in {m['table']}"
                if m["exists"]
                else ", no migrations table"
            )
        return Probe(obs, summary)


def _dsn(p: PostgresParams, ctx: ProbeContext) -> str:
    if p.dsn is not None:
        dsn = reveal(p.dsn, "dsn")
    elif isinstance(ctx.resource, PostgresResource):
        dsn = reveal(ctx.resource.dsn, "dsn")
    else:
        raise ProbeError("postgres check needs dsn: or a postgres resource:", retryable=False)
    assert dsn is not None
    return dsn


async def _connect(dsn: str, timeout: float) -> psycopg.AsyncConnection[Any]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.Error:
        # the parser's message may quote part of the DSN, which may hold a password
        raise ProbeError(
            "dsn is not a valid PostgreSQL connection string",
            hint="use postgresql://user@host:5432/dbname",
            retryable=False,
        ) from None
    extra: dict[str, Any] = {"connect_timeout": max(2, int(timeout))}
    if "application_name" not in given:
        extra["application_name"] = "opsbook"  # so DBAs can tell our sessions apart
    try:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)
    except psycopg.Error as e:
        raise _connect_error(str(e)) from None


def _connect_error(text: str) -> ProbeError:
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  ...'
    line = text.splitlines()[0] if text else "connection failed"
    line = re.sub(r"^connection failed:\s*", "", line)
    line = re.sub(r"\s+", " ", line).strip()
    msg = f"cannot connect to PostgreSQL: {line}"
    low = line.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return ProbeError(msg, hint="check the user and password in the DSN", retryable=False)
    if "does not exist" in low:
        return ProbeError(msg, hint="check the database and role names in the DSN", retryable=False)
    if "pg_hba.conf" in low:
        return ProbeError(msg, hint="the server's pg_hba.conf rejects this client", retryable=False)
    if "refused" in low or "timeout" in low or "timed out" in low:
        return ProbeError(msg, hint="is PostgreSQL running and reachable on that host and port?")
    return ProbeError(msg, hint="check the DSN and that the server accepts connections")


async def _observe(
    conn: psycopg.AsyncConnection[Any], p: PostgresParams, timeout: float, reads: frozenset[str]
) -> dict[str, Any]:
    # Server-side deadline a little inside the runner's, so a slow query reports itself
    # as such instead of as a bare cancellation. The session is read-only for opsbook's own
    # statements; the user's query gets a READ ONLY transaction of its own (pg_read_only).
    import psycopg
    from psycopg import sql
    limit_ms = max(1, int(timeout * 900))
    try:
        await conn.execute("SET default_transaction_read_only = on")
        await conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(limit_ms)))
        cur = await conn.execute(_STATUS)
        status = await cur.fetchone()
    except psycopg.Error as e:
        raise _query_error(e, "reading server status") from None
    assert status is not None
    in_recovery, used, max_conn = status
    num = conn.info.server_version
    obs: dict[str, Any] = {
        "connected": True,
        "server_version": _version_text(num),
        "server_version_num": num,
        "in_recovery": bool(in_recovery),
        "connections": {
            "used": used,
            "max": max_conn,
            "ratio": round(used / max_conn, 4) if max_conn else None,
        },
    }
    if p.query is not None:
        obs.update(await _run_query(conn, p.query))
    if p.migrations is not None and p.migrations is not False:
        obs["migrations"] = await _migrations(conn, p.migrations)
    if _wants_diagnostics(p, reads):
        from ..dbdiag.observe import observe

        found, problems = await observe(conn, limit_ms)
        for report, values in found.items():  # connections.* joins the existing connections object
            obs.setdefault(report, {}).update(values)
        if problems:
            obs["diagnostics_problems"] = problems
    return obs


# what the diagnostics add: their reports run only when asked for, or when an assertion reads one
DIAGNOSTIC_PATHS = ("connections.idle_in_transaction", "connections.waiting", "locks", "activity",
                    "replication", "vacuum")


def _wants_diagnostics(p: PostgresParams, reads: frozenset[str]) -> bool:
    if p.diagnostics is not None:
        return p.diagnostics
    return any(r == d or r.startswith(d + ".") for r in reads for d in DIAGNOSTIC_PATHS)


def _version_text(num: int) -> str:
    if num >= 100000:  # 10 and later: major * 10000 + minor
        return f"{num // 10000}.{num % 10000}"
    return f"{num // 10000}.{num // 100 % 100}.{num % 100}"


async def _run_query(conn: psycopg.AsyncConnection[Any], query: str) -> dict[str, Any]:
    import psycopg
    try:
        columns, rows, count = await pg_read_only(conn, query, MAX_ROWS)
    except ReadOnlyRefused as e:
        raise ProbeError(f"query refused: {e.message}", hint=READ_ONLY_HINT, retryable=False) from None
    except psycopg.Error as e:
        raise _query_error(e, "query") from None
    return rows_observations(columns, rows, count)


def _query_error(e: psycopg.Error, what: str) -> ProbeError:
    import psycopg
    primary = e.diag.message_primary or str(e).splitlines()[0]
    if isinstance(e, psycopg.errors.QueryCanceled):
        return ProbeError(
            f"{what} cancelled: {primary}", hint="the query is slower than the check's timeout"
        )
    if isinstance(e, psycopg.errors.ReadOnlySqlTransaction):
        return ProbeError(
            f"{what} tried to write: {primary}",
            hint="checks run read-only; use a SELECT",
            retryable=False,
        )
    if isinstance(e, psycopg.OperationalError):
        return ProbeError(f"{what} failed: {primary}", hint="the connection was lost")
    return ProbeError(
        f"{what} failed: {primary}", hint="fix the SQL; it ran read-only", retryable=False
    )


async def _migrations(conn: psycopg.AsyncConnection[Any], which: bool | str) -> dict[str, Any]:
    import psycopg
    from psycopg import sql
    try:
        if which is True:
            cur = await conn.execute(_FIND_KNOWN, [list(MIGRATION_TABLES)])
            found = {r[1]: r for r in await cur.fetchall()}
            hit = next((found[t] for t in MIGRATION_TABLES if t in found), None)
        else:
            cur = await conn.execute(_FIND_NAMED, [which])
            hit = await cur.fetchone()
        if hit is None:
            return no_migrations(None if which is True else str(which))
        schema, table = hit
        ident = sql.Identifier(schema, table)
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident))
        row = await cur.fetchone()
        count = row[0] if row else 0
    except psycopg.Error as e:
        raise _query_error(e, "reading migrations") from None
    return {
        "table": table if schema == "public" else f"{schema}.{table}",
        "exists": True,
        "count": count,
        "latest": await _latest(conn, table, ident),
    }


async def _latest(conn: psycopg.AsyncConnection[Any], table: str, ident: sql.Identifier) -> Any:
    import psycopg
    from psycopg import sql
    if table not in MIGRATION_TABLES:
        return None  # an arbitrary table: we don't know which column names a migration
    col, order = MIGRATION_TABLES[table]
    q = sql.SQL("SELECT {} FROM {}").format(sql.Identifier(col), ident)
    if order:
        q += sql.SQL(" ORDER BY {} DESC NULLS LAST").format(sql.Identifier(order))
    try:
        cur = await conn.execute(q + sql.SQL(" LIMIT 1"))
        row = await cur.fetchone()
    except psycopg.Error:
        return None  # same table name, another tool's columns: the count still stands
    return jsonable(row[0]) if row else None


KIND = PostgresCheck()
