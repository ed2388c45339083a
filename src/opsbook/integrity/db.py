"""SQL built from fragments, and the two databases it runs on.

A ``Q`` is a list of raw SQL text (written by opsbook, never by the user), identifiers and
parameters. Each database renders it twice: for execution (identifiers quoted by the
driver's rules, values as bound parameters) and for printing (values written inline and
safely quoted, so an operator can paste the statement into psql or sqlite3).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..checks._sql import pg_read_only, sqlite_read_only, sqlite_refused
from ..errors import READ_ONLY, READ_ONLY_HINT, CouldNotRun, ReadOnlyRefused, SqlError

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Ident:
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Param:
    value: Any


Frag = str | Ident | Param


class Q:
    """A statement or expression under construction: ``Q("SELECT ", col(x), " FROM ", table(t))``."""

    __slots__ = ("frags",)

    def __init__(self, *frags: Frag | Q) -> None:
        self.frags: list[Frag] = []
        for f in frags:
            if isinstance(f, Q):
                self.frags.extend(f.frags)
            else:
                self.frags.append(f)

    def __add__(self, other: Frag | Q) -> Q:
        return Q(self, other)

    def __radd__(self, other: Frag) -> Q:
        return Q(other, self)

    @staticmethod
    def join(sep: str, items: Iterable[Q | Frag]) -> Q:
        out = Q()
        for i, item in enumerate(items):
            out = out + sep + item if i else out + item
        return out


def table(name: str) -> Ident:
    """``public.users`` -> schema ``public``, table ``users``; a plain name stays one part."""
    return Ident(tuple(name.split(".", 1)) if "." in name else (name,))


def col(name: str) -> Ident:
    return Ident((name,))


# -- SQLite ----------------------------------------------------------------------------------


def sqlite_ident(name: str) -> str:
    """Quote a SQLite identifier with grave accents, embedded ones doubled.

    Not double quotes: SQLite reads a double-quoted name that matches no column as a string
    literal, so a misspelt column would silently compare a constant and pass. A name in
    grave accents is always an identifier, and a missing one is an error.
    """
    return "`" + name.replace("`", "``") + "`"


def sqlite_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    return "'" + str(v).replace("'", "''") + "'"


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> bool | None:
    # SQLite rewrites ``x REGEXP p`` as ``regexp(p, x)``; it ships no implementation itself
    if pattern is None or value is None:
        return None
    return _regex(pattern).search(str(value)) is not None


class SqliteDb:
    dialect = "sqlite"
    parallel = False  # one thread scans: everything of a table goes in one statement

    def __init__(self, path: str, timeout: float | None) -> None:
        self.path = path
        self.timeout = timeout
        self.queries = 0
        if not os.path.isfile(path):
            raise CouldNotRun(f"no SQLite database at {path}", hint="check the path; a suite never creates one",
                              retryable=False)
        uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            sqlite_read_only(self.conn)
        except sqlite3.Error as e:
            raise CouldNotRun(f"cannot open {path} as SQLite: {e}", retryable=False) from None
        self.conn.create_function("regexp", 2, _regexp, deterministic=True)
        self._deadline = 0.0
        if timeout:
            self.conn.set_progress_handler(lambda: time.monotonic() > self._deadline, 10_000)

    def render(self, q: Q, printable: bool = False) -> tuple[str, list[Any]]:
        text: list[str] = []
        params: list[Any] = []
        for f in q.frags:
            if isinstance(f, str):
                text.append(f)
            elif isinstance(f, Ident):
                text.append(".".join(sqlite_ident(p) for p in f.parts))
            elif printable:
                text.append(sqlite_literal(f.value))
            else:
                text.append("?")
                params.append(int(f.value) if isinstance(f.value, bool) else f.value)
        return "".join(text), params

    def printable(self, q: Q) -> str:
        return self.render(q, printable=True)[0]

    def count_if(self, cond: Q) -> Q:
        return Q("count(CASE WHEN ", cond, " THEN 1 END)")

    def not_matching(self, column: Q, regex: str) -> Q:
        return Q("NOT (", column, " REGEXP ", Param(regex), ")")

    def bind(self, v: Any) -> Param:
        return Param(v)

    def _run(self, text: str, params: Sequence[Any], limit: int | None) -> tuple[list[str], list[Any], int]:
        if self.timeout:
            self._deadline = time.monotonic() + self.timeout
        try:
            cur = self.conn.execute(text, params)
            columns = [d[0] for d in cur.description or ()]
            if limit is None:
                rows = cur.fetchall()
                return columns, rows, len(rows)
            rows = cur.fetchmany(limit)
            return columns, rows, len(rows) + sum(1 for _ in cur)
        except sqlite3.Error as e:
            msg = "interrupted: slower than the suite's timeout" if str(e) == "interrupted" else str(e)
            raise SqlError(msg) from None

    async def fetch(self, q: Q | str, limit: int | None = None) -> tuple[list[str], list[Any], int]:
        """(columns, rows, total row count); with ``limit`` only that many rows are kept."""
        self.queries += 1
        text, params = (q, []) if isinstance(q, str) else self.render(q)
        return await asyncio.to_thread(self._run, text, params, limit)

    async def fetch_user(self, query: str, limit: int | None = None) -> tuple[list[str], list[Any], int]:
        """A user-written query: the file is open read-only (mode=ro) and sqlite3 runs one statement."""
        try:
            return await self.fetch(query, limit)
        except SqlError as e:
            if sqlite_refused(e.message):
                raise SqlError(f"{READ_ONLY}: {e.message}", hint=READ_ONLY_HINT) from None
            raise

    async def close(self) -> None:
        self.conn.close()


# -- PostgreSQL ------------------------------------------------------------------------------


class PgDb:
    dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.queries = 0
        self.parallel = False  # the server may scan one table with several workers

    @classmethod
    async def connect(cls, dsn: str, timeout: float | None) -> PgDb:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            given = conninfo_to_dict(dsn)
        except psycopg.Error:
            # the parser's message may quote part of the DSN, which may hold a password
            raise CouldNotRun("the DSN is not a valid PostgreSQL connection string",
                              hint="use postgresql://user@host:5432/dbname", retryable=False) from None
        extra: dict[str, Any] = {"connect_timeout": 10}
        if "application_name" not in given:
            extra["application_name"] = "opsbook-integrity"
        try:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)
        except psycopg.Error as e:
            line = re.sub(r"^connection failed:\s*", "", (str(e).splitlines() or ["failed"])[0])
            raise CouldNotRun(f"cannot connect to PostgreSQL: {line}",
                              hint="is the server up and the DSN right?") from None
        db = cls(conn)
        try:
            # integrity checks only read; the server refuses anything else
            await conn.execute("SET default_transaction_read_only = on")
            if timeout:
                await conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                   [str(max(1, int(timeout * 1000)))])
            cur = await conn.execute("SELECT current_setting('max_parallel_workers_per_gather')::int")
            row = await cur.fetchone()
            db.parallel = bool(row and row[0] > 0)
        except psycopg.Error as e:
            await conn.close()
            raise CouldNotRun(f"cannot prepare the PostgreSQL session: {e}") from None
        return db

    def render(self, q: Q, printable: bool = False) -> tuple[str, list[Any]]:
        from psycopg import sql

        pieces: list[tuple[str, str]] = []  # (kind, text)
        params: list[Any] = []
        for f in q.frags:
            if isinstance(f, str):
                pieces.append(("raw", f))
            elif isinstance(f, Ident):
                pieces.append(("ident", sql.Identifier(*f.parts).as_string(self.conn)))
            elif printable:
                pieces.append(("raw", sql.Literal(f.value).as_string(self.conn)))
            else:
                pieces.append(("param", "%s"))
                params.append(f.value)
        if not params:
            return "".join(t for _, t in pieces), []
        # with parameters psycopg reads % as a placeholder marker, also inside quoted names
        return "".join(t if k == "param" else t.replace("%", "%%") for k, t in pieces), params

    def printable(self, q: Q) -> str:
        return self.render(q, printable=True)[0]

    def count_if(self, cond: Q) -> Q:
        return Q("count(*) FILTER (WHERE ", cond, ")")

    def not_matching(self, column: Q, regex: str) -> Q:
        return Q("CAST(", column, " AS text) !~ ", Param(regex))

    def bind(self, v: Any) -> Param:
        # text parameters are sent untyped, so the server reads them as the column's type
        # (integer, enum, timestamp...)
        if isinstance(v, bool):
            return Param("true" if v else "false")
        return Param(v if isinstance(v, str) else str(v))

    async def fetch(self, q: Q | str, limit: int | None = None) -> tuple[list[str], list[Any], int]:
        import psycopg

        self.queries += 1
        text, params = (q, []) if isinstance(q, str) else self.render(q)
        try:
            cur = await self.conn.execute(text, params or None)
            if cur.description is None:
                return [], [], max(cur.rowcount, 0)
            columns = [d.name for d in cur.description]
            if limit is None:
                rows = await cur.fetchall()
                return columns, rows, len(rows)
            rows = await cur.fetchmany(limit)
            return columns, rows, max(cur.rowcount, len(rows))
        except psycopg.Error as e:
            raise self._error(e) from None

    async def fetch_user(self, query: str, limit: int | None = None) -> tuple[list[str], list[Any], int]:
        """A user-written query: one statement, in a READ ONLY transaction opsbook opens."""
        import psycopg

        self.queries += 1
        try:
            return await pg_read_only(self.conn, query, limit)
        except ReadOnlyRefused as e:
            raise SqlError(e.message, hint=READ_ONLY_HINT) from None
        except psycopg.Error as e:
            raise self._error(e) from None

    def _error(self, e: psycopg.Error) -> SqlError:
        import psycopg

        primary = e.diag.message_primary or (str(e).splitlines() or ["query failed"])[0]
        if isinstance(e, psycopg.errors.QueryCanceled):
            primary = f"cancelled: {primary} (slower than the suite's timeout)"
        return SqlError(primary, lost=isinstance(e, psycopg.OperationalError) and self.conn.closed)

    async def close(self) -> None:
        await self.conn.close()


Db = PgDb | SqliteDb
