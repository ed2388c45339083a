"""``sql``: one SQL body against a named ``resources:`` entry (postgres or sqlite).

``${name}`` becomes a bound parameter (``%(name)s`` for PostgreSQL, ``:name`` for SQLite) and the
value is passed to the driver, so a quote or a secret in a value is data, never SQL. The step is
read-only unless ``mutates=true``: a READ ONLY transaction on PostgreSQL (checks/_sql.py), a
``mode=ro`` + ``query_only`` connection on SQLite.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...checks._sql import jsonable, pg_read_only, sqlite_read_only, sqlite_refused
from ...config.references import missing
from ...config.resources import PostgresResource, SqliteResource
from ...config.secrets import redactor, reveal
from ...errors import OpsbookError, ReadOnlyRefused, UsageError
from ..model import Step
from ..template import REF, substitute
from ._common import attrs, remember_secrets, run_sync, shown
from .base import Rendered, StepContext, StepOutcome
from .output import Sink

if TYPE_CHECKING:
    import psycopg

    from ...config.load import Config

MAX_ROWS = 1000  # rows kept in the ``rows`` observation; all of them are counted
MUTATING = re.compile(r"(?:^|;|\()\s*(insert|update|delete|merge|drop|truncate|alter|create|grant|revoke|"
                      r"vacuum|reindex|cluster|copy|call|refresh|comment|lock|reset|set)\b", re.I | re.M)
QUOTED_REF = re.compile(r"'[^']*\$\{[A-Za-z_][A-Za-z0-9_]*\}[^']*'")
READ_ONLY_HINT = "this step runs read-only; mark it mutates=true if it is meant to write"


class SqlAttrs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resource: str = Field(description="a postgres or sqlite entry of resources:")


def _literal(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


class SqlStep:
    name: ClassVar[str] = "sql"
    Attrs: ClassVar[type[BaseModel] | None] = SqlAttrs
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ()

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        a = attrs(step, SqlAttrs)
        res = cfg.resources.get(a.resource)
        if res is None:
            msg, hint = missing("resource", a.resource, cfg.resources)
            raise UsageError(f"step {step.name!r}: {msg}", hint=hint)
        substitute(step.body, values, secret_names, mask=True)  # an undefined ${name} is an error here
        names = list(dict.fromkeys(REF.findall(step.body)))
        if isinstance(res, PostgresResource):
            dialect = "postgres"
            # psycopg reads % as a placeholder marker once parameters are given
            query = REF.sub(lambda m: f"%({m.group(1)})s", step.body.replace("%", "%%")) if names else step.body
            target = f"resource {a.resource} ({_pg_where(reveal(res.dsn, f'resources.{a.resource}.dsn') or '')})"
        elif isinstance(res, SqliteResource):
            dialect = "sqlite"
            query = REF.sub(lambda m: f":{m.group(1)}", step.body)
            target = f"resource {a.resource} (sqlite {res.path})"
        else:
            raise UsageError(f"step {step.name!r}: resource {a.resource!r} is a {res.kind} resource",
                             hint="a sql step runs against a postgres or sqlite resource")
        remember_secrets(values, secret_names)
        display = redactor.text(REF.sub(lambda m: shown(m.group(1), values, secret_names, _literal), step.body).strip())
        spec = {"dialect": dialect, "resource": a.resource, "query": query,
                "params": {n: values[n] for n in names}, "mutates": step.mutates}
        return Rendered(kind=self.name, display=display, target=target, read_only=not step.mutates, spec=spec)

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        remember_secrets(ctx.values, ctx.secret_names)
        spec = rendered.spec
        res = ctx.cfg.resources[spec["resource"]]
        start = time.perf_counter()
        try:
            if isinstance(res, PostgresResource):
                dsn = reveal(res.dsn, f"resources.{spec['resource']}.dsn") or ""
                columns, rows, count = run_sync(_pg(dsn, spec, ctx.timeout))
            else:
                assert isinstance(res, SqliteResource)
                path = Path(ctx.cfg.base_dir) / os.path.expanduser(res.path)
                columns, rows, count = _sqlite(path, spec, ctx.timeout)
        except OpsbookError as e:
            return StepOutcome({"rows": [], "row_count": 0, "columns": [],
                                "duration": _ms(start)}, error=redactor.text(e.message))
        kept = [{c: jsonable(x) for c, x in zip(columns, r, strict=False)} for r in rows[:MAX_ROWS]]
        obs: dict[str, Any] = redactor.redact({
            "rows": kept, "row_count": count, "columns": columns,
            "value": jsonable(rows[0][0]) if rows and len(rows[0]) else None,
        })
        obs["duration"] = _ms(start)
        sink = Sink()
        sink.feed(("\t".join(columns) + "\n").encode() if columns else b"")
        for r in kept:
            sink.feed(("\t".join("" if v is None else str(v) for v in r.values()) + "\n").encode())
        sink.feed(f"({count} row{'s' if count != 1 else ''})\n".encode())
        if ctx.emit is not None:
            ctx.emit(sink.text().encode())
        return StepOutcome(obs, output=sink.text(), output_bytes=sink.total)

    def lint(self, step: Step) -> list[str]:
        out = []
        m = MUTATING.search(step.body)
        if m and not step.mutates:
            out.append(f"step {step.name!r} runs {m.group(1).upper()}, which writes, but is not marked mutates=true "
                       "(it would be refused: sql steps run read-only unless mutates=true)")
        if QUOTED_REF.search(step.body):
            out.append(f"step {step.name!r} puts ${{...}} inside quotes: values are bound as parameters, "
                       "write ${name} without quotes")
        return out


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _pg_where(dsn: str) -> str:
    """host:port/dbname of a DSN, never its user or password."""
    from psycopg.conninfo import conninfo_to_dict
    try:
        d = conninfo_to_dict(dsn)
    except Exception:
        return "postgres"
    host = str(d.get("host") or "localhost")
    port = f":{d['port']}" if d.get("port") else ""
    return f"{host}{port}/{d.get('dbname') or d.get('user') or ''}"


async def _pg(dsn: str, spec: Mapping[str, Any], timeout: float) -> tuple[list[str], list[Any], int]:
    import asyncio

    import psycopg
    params = spec["params"] or None
    try:
        conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(
            dsn, autocommit=True, connect_timeout=max(2, int(timeout)), application_name="opsbook runbook"),
            timeout)
    except (psycopg.Error, TimeoutError) as e:
        raise OpsbookError(f"cannot connect to PostgreSQL: {_first_line(e)}") from None
    try:
        await conn.execute(f"SET statement_timeout = {max(1, int(timeout * 900))}")
        if not spec["mutates"]:
            try:
                return await pg_read_only(conn, spec["query"], MAX_ROWS, params)
            except ReadOnlyRefused as e:
                raise OpsbookError(f"refused: {e.message}", hint=READ_ONLY_HINT) from None
        async with conn.transaction():
            cur = await conn.execute(spec["query"], params)
            if cur.description is None:
                return [], [], max(cur.rowcount, 0)
            rows = await cur.fetchmany(MAX_ROWS)
            return [d.name for d in cur.description], rows, max(cur.rowcount, len(rows))
    except psycopg.Error as e:
        raise OpsbookError(f"SQL failed: {_diag(e)}") from None
    finally:
        await conn.close()


def _diag(e: psycopg.Error) -> str:
    return e.diag.message_primary or _first_line(e)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return redactor.text(text.splitlines()[0])


def _sqlite(path: Path, spec: Mapping[str, Any], timeout: float) -> tuple[list[str], list[Any], int]:
    if not path.is_file():
        raise OpsbookError(f"no database file at {path}", hint="a sql step never creates one")
    mode = "rw" if spec["mutates"] else "ro"
    deadline = time.monotonic() + timeout
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path.resolve()))}?mode={mode}", uri=True,
                               timeout=max(0.1, timeout), isolation_level=None)
    except sqlite3.Error as e:
        raise OpsbookError(f"cannot open {path}: {e}") from None
    try:
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        if not spec["mutates"]:
            sqlite_read_only(conn)
        else:
            conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(spec["query"], spec["params"])
        except sqlite3.ProgrammingError as e:
            if not (spec["mutates"] and "one statement" in str(e) and not spec["params"]):
                raise
            # several statements without values: a script, inside our transaction
            conn.execute("ROLLBACK")
            cur = conn.cursor()
            cur.executescript(f"BEGIN IMMEDIATE;\n{spec['query']}\n;COMMIT;")
        columns = [d[0] for d in cur.description or ()]
        rows = cur.fetchmany(MAX_ROWS) if columns else []
        count = len(rows) + sum(1 for _ in cur) if columns else max(cur.rowcount, 0)
        if conn.in_transaction:
            conn.execute("COMMIT")
        return columns, rows, count
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        text = str(e)
        if text == "interrupted":
            raise OpsbookError(f"SQL interrupted at the step's timeout ({timeout:g}s)") from None
        if not spec["mutates"] and sqlite_refused(text):
            raise OpsbookError(f"refused: read-only: {text}", hint=READ_ONLY_HINT) from None
        raise OpsbookError(f"SQL failed: {text}") from None
    finally:
        conn.close()


KIND = SqlStep()
