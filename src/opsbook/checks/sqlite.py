"""``sqlite``: open a database file read-only; query, integrity (quick_check) and migrations.

The file is opened with ``mode=ro`` so a check can never create, write or migrate it; a
missing file is an error instead of a fresh empty database.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import urllib.parse
from typing import Any, ClassVar

from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import SqliteResource
from ..errors import READ_ONLY, READ_ONLY_HINT, ProbeError
from ._sql import (
    MAX_ROWS,
    MIGRATION_TABLES,
    jsonable,
    no_migrations,
    rows_observations,
    sqlite_read_only,
    sqlite_refused,
)
from .base import Probe, ProbeContext


class SqliteParams(CheckParams):
    path: str | None = Field(default=None, description="database file, relative to the config file")
    query: str | None = Field(
        default=None, description="SQL run read-only; gives value, rows, row_count"
    )
    quick_check: bool = Field(default=False, description="run PRAGMA quick_check")
    migrations: bool | str | None = Field(
        default=None, description="true: find a known migrations table; or a table name"
    )


class SqliteCheck:
    name: ClassVar[str] = "sqlite"
    Params: ClassVar[type[CheckParams]] = SqliteParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("sqlite",)
    default_expect: ClassVar[tuple[str, ...]] = ("connected == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ()
    observations: ClassVar[dict[str, str]] = {
        "connected": "true once the file opened as a SQLite database",
        "value": "first column of the first row of query",
        "rows": "query's rows as objects, at most 100",
        "row_count": "number of rows query returned",
        "size": "database file size in bytes",
        "journal_mode": "e.g. 'wal' or 'delete'",
        "quick_check": "'ok', or the problems PRAGMA quick_check found, when quick_check: true",
        "migrations": "{table, exists, count, latest} when migrations: is set",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: SqliteParams = params
        if p.path is not None:
            rel = p.path
        elif isinstance(ctx.resource, SqliteResource):
            rel = ctx.resource.path
        else:
            raise ProbeError("sqlite check needs path: or a sqlite resource:", retryable=False)
        path = os.path.join(ctx.base_dir, os.path.expanduser(rel))
        # a thread cannot be cancelled from outside: it stops itself before the runner gives up
        deadline = time.monotonic() + ctx.timeout * 0.9
        obs = await asyncio.to_thread(_observe, path, p, deadline)
        summary = f"{rel}: {obs['size']} bytes, journal {obs['journal_mode']}"
        if p.query is not None:
            summary += f", query returned {obs['row_count']} row(s)"
        if p.quick_check:
            summary += f", quick_check {'ok' if obs['quick_check'] == 'ok' else 'found problems'}"
        return Probe(obs, summary)


def _observe(path: str, p: SqliteParams, deadline: float) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise ProbeError(
            f"no database file at {path}",
            hint="check path:; a check never creates one",
            retryable=False,
        )
    start = time.perf_counter()
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=max(0.1, deadline - time.monotonic()))
        sqlite_read_only(conn)
    except sqlite3.Error as e:
        raise ProbeError(
            f"cannot open {path}: {e}", hint="check the file's permissions", retryable=False
        ) from None
    try:
        # a progress handler returning true aborts the statement ("interrupted")
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        obs: dict[str, Any] = {"connected": True}
        obs["journal_mode"] = _one(conn, "PRAGMA journal_mode", "reading the database")
        if p.query is not None:
            obs.update(_query(conn, p.query))
        if p.quick_check:
            rows = _all(conn, "PRAGMA quick_check", "quick_check")
            msgs = [str(r[0]) for r in rows]
            obs["quick_check"] = "ok" if msgs == ["ok"] else msgs
        if p.migrations is not None and p.migrations is not False:
            obs["migrations"] = _migrations(conn, p.migrations)
    finally:
        conn.close()
    obs["size"] = os.path.getsize(path)
    obs["duration"] = round((time.perf_counter() - start) * 1000, 3)
    return obs


def _error(e: sqlite3.Error, what: str) -> ProbeError:
    text = str(e)
    if text == "interrupted":
        return ProbeError(
            f"{what} interrupted: slower than the check's timeout",
            hint="raise timeout: or make the query faster",
        )
    if "database is locked" in text:
        return ProbeError(f"{what} failed: database is locked", hint="a writer holds a lock; retry")
    if sqlite_refused(text):
        return ProbeError(f"{what} refused: {READ_ONLY}: {text}", hint=READ_ONLY_HINT, retryable=False)
    if "not a database" in text:
        return ProbeError(
            f"{what} failed: {text}", hint="path: points at something else", retryable=False
        )
    return ProbeError(
        f"{what} failed: {text}", hint="fix the SQL; it ran read-only", retryable=False
    )


def _all(conn: sqlite3.Connection, q: str, what: str, args: tuple[Any, ...] = ()) -> list[Any]:
    try:
        return conn.execute(q, args).fetchall()
    except sqlite3.Error as e:
        raise _error(e, what) from None


def _one(conn: sqlite3.Connection, q: str, what: str) -> Any:
    rows = _all(conn, q, what)
    return jsonable(rows[0][0]) if rows else None


def _query(conn: sqlite3.Connection, query: str) -> dict[str, Any]:
    try:
        cur = conn.execute(query)
        columns = [d[0] for d in cur.description or ()]
        # keep a bounded list but count them all, without holding them all
        rows = cur.fetchmany(MAX_ROWS)
        count = len(rows) + sum(1 for _ in cur)
    except sqlite3.Error as e:
        raise _error(e, "query") from None
    return rows_observations(columns, rows, count)


def _migrations(conn: sqlite3.Connection, which: bool | str) -> dict[str, Any]:
    names = list(MIGRATION_TABLES) if which is True else [str(which)]
    marks = ",".join("?" * len(names))
    present = {
        r[0]
        for r in _all(
            conn,
            f"SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name IN ({marks})",
            "reading migrations",
            tuple(names),
        )
    }
    table = next((n for n in names if n in present), None)
    if table is None:
        return no_migrations(None if which is True else str(which))
    quoted = '"' + table.replace('"', '""') + '"'
    count = _all(conn, f"SELECT count(*) FROM {quoted}", "reading migrations")[0][0]
    latest = None
    if table in MIGRATION_TABLES:
        col, order = MIGRATION_TABLES[table]
        q = (
            f'SELECT "{col}" FROM {quoted}'
            + (f' ORDER BY "{order}" DESC' if order else "")
            + " LIMIT 1"
        )
        try:
            row = conn.execute(q).fetchone()
            latest = jsonable(row[0]) if row else None
        except sqlite3.Error:
            pass  # same table name, another tool's columns: the count still stands
    return {"table": table, "exists": True, "count": count, "latest": latest}


KIND = SqliteCheck()
