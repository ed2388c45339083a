"""``schema``: required tables and columns exist, with the declared types.

``tables: {users: {id: bigint, email: text}}`` checks types; ``tables: {users: [id, email]}``
(or a type of ``null`` / ``any``) only requires the columns. Types compare after alias
normalisation (``int8`` = ``bigint``, ``timestamptz`` = ``timestamp with time zone``...), and a
declared type without a length (``varchar``) matches any length (``varchar(255)``). One
violation per missing table, missing column or type mismatch.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from ..config.integrity import IntegrityCheckBase
from .base import CheckType, Finding, RunCtx, plural
from .db import Db, Param, PgDb, Q, sqlite_ident, table

_ALIASES = {
    "int": "integer", "int4": "integer", "serial": "integer", "serial4": "integer",
    "int8": "bigint", "bigserial": "bigint", "serial8": "bigint",
    "int2": "smallint", "smallserial": "smallint", "serial2": "smallint",
    "bool": "boolean", "float8": "double precision", "double": "double precision",
    "float4": "real", "float": "double precision", "decimal": "numeric",
    "varchar": "character varying", "char": "character", "bpchar": "character",
    "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone",
    "timetz": "time with time zone", "time": "time without time zone",
}
_PG_COLUMNS = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass(",
    ") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
)


class SchemaCheck(IntegrityCheckBase):
    """Required tables, columns and (optionally) their types."""

    tables: dict[str, dict[str, str | None] | list[str]] = Field(
        min_length=1, description="table: {column: type} or table: [column, ...]"
    )


def normalise(type_text: str, keep_modifier: bool) -> str:
    t = re.sub(r"\s+", " ", type_text.strip().lower())
    if not keep_modifier:
        t = re.sub(r"\s*\([^)]*\)", "", t)
    base, _, rest = t.partition("(")
    base = _ALIASES.get(base.strip(), base.strip())
    return f"{base}({rest}" if rest else base


def same_type(expected: str, actual: str) -> bool:
    modifier = "(" in expected
    return normalise(expected, modifier) == normalise(actual, modifier)


def _wanted(spec: SchemaCheck) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for name, cols in spec.tables.items():
        if isinstance(cols, list):
            out[name] = dict.fromkeys(cols)
        else:
            out[name] = {c: (None if t is None or t.lower() == "any" else t) for c, t in cols.items()}
    return out


class Schema(CheckType):
    name: ClassVar[str] = "schema"
    Spec = SchemaCheck

    async def _columns(self, db: Db, name: str) -> tuple[dict[str, str] | None, str]:
        """The table's {column: type}, None when it does not exist; and the SQL that read it."""
        if isinstance(db, PgDb):
            # to_regclass reads a quoted name exactly as the other checks name the table
            q = Q(_PG_COLUMNS[0], Param(db.printable(Q(table(name)))), _PG_COLUMNS[1])
            _, rows, _ = await db.fetch(q)
            sql = db.printable(q)
        else:
            schema_name, _, tbl = name.rpartition(".")
            prefix = sqlite_ident(schema_name) + "." if schema_name else ""
            sql = f"PRAGMA {prefix}table_info({sqlite_ident(tbl)})"
            _, info, _ = await db.fetch(sql)
            rows = [(r[1], r[2]) for r in info]
        return ({str(r[0]): str(r[1]) for r in rows} or None), sql

    async def run(self, spec: SchemaCheck, db: Db, ctx: RunCtx) -> Finding:
        problems: list[dict[str, Any]] = []
        sqls: list[str] = []
        for name, cols in _wanted(spec).items():
            actual, sql = await self._columns(db, name)
            sqls.append(sql)
            if actual is None:
                problems.append({"table": name, "column": None, "expected": "table", "actual": None,
                                 "problem": "missing table"})
                continue
            for c, expected in cols.items():
                if c not in actual:
                    problems.append({"table": name, "column": c, "expected": expected or "any",
                                     "actual": None, "problem": "missing column"})
                elif expected is not None and not same_type(expected, actual[c]):
                    problems.append({"table": name, "column": c, "expected": expected,
                                     "actual": actual[c], "problem": "type differs"})
        n = len(problems)
        if n:
            first = problems[0]
            where = first["table"] + (f".{first['column']}" if first["column"] else "")
            msg = f"{plural(n, 'schema problem')}, first: {first['problem']} {where}"
        else:
            msg = f"{plural(len(spec.tables), 'table')} as declared"
        return Finding(n, msg, sql=";\n".join(sqls) + ";", samples=problems)


TYPE = Schema()
