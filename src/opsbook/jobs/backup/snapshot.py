"""Which tables a dump holds, and their exact row counts inside the dump's own snapshot.

The selection mirrors pg_dump's switches: ``-t`` wins over ``-n``/``-N``; unqualified table
patterns match in every schema; patterns are case-folded unless double-quoted; ``*`` and
``?`` are wildcards.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import psycopg
from psycopg import sql

from .manifest import TableSnapshot

_TABLES = """
SELECT n.nspname, c.relname,
       (SELECT a.attname FROM pg_index i JOIN pg_attribute a
          ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1) AS pk
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def _fold(part: str) -> str:
    return part[1:-1] if len(part) >= 2 and part.startswith('"') and part.endswith('"') else part.lower()


def _split(pattern: str) -> tuple[str | None, str]:
    if "." in pattern.replace('"', ""):
        schema, _, name = pattern.partition(".")
        return _fold(schema), _fold(name)
    return None, _fold(pattern)


def _table_matches(schema: str, name: str, patterns: list[str]) -> bool:
    for p in patterns:
        ps, pn = _split(p)
        if (ps is None or fnmatch.fnmatchcase(schema, ps)) and fnmatch.fnmatchcase(name, pn):
            return True
    return False


def _schema_matches(schema: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(schema, _fold(p)) for p in patterns)


def qualified(schema: str, name: str) -> str:
    return f"{schema}.{name}"


def select_tables(conn: psycopg.Connection, schemas: list[str], exclude_schemas: list[str],
                  tables: list[str], exclude_tables: list[str],
                  exclude_data: list[str]) -> list[tuple[str, str, str | None, bool]]:
    """(schema, table, single-column primary key or None, data dumped?) for every dumped table."""
    out = []
    for schema, name, pk in conn.execute(_TABLES).fetchall():
        if tables:
            if not _table_matches(schema, name, tables):
                continue
        elif (schemas and not _schema_matches(schema, schemas)) or _schema_matches(schema, exclude_schemas):
            continue
        if _table_matches(schema, name, exclude_tables):
            continue
        out.append((schema, name, pk, not _table_matches(schema, name, exclude_data)))
    return out


def count_rows(conn: psycopg.Connection, selected: list[tuple[str, str, str | None, bool]],
               on_table: Callable[[str], None] | None = None) -> dict[str, TableSnapshot]:
    """Exact counts (and max primary key) of every table, in the connection's transaction."""
    out: dict[str, TableSnapshot] = {}
    # the counts run beside the dump, on the cores it needs: parallel workers and JIT would
    # only spend more CPU on a query that is not what the backup waits for
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    conn.execute("SELECT set_config('jit', 'off', true) WHERE current_setting('jit', true) IS NOT NULL")
    for schema, name, pk, data in selected:
        table = sql.Identifier(schema, name)
        if pk is not None:
            q = sql.SQL("SELECT count(*), max({})::text FROM {}").format(sql.Identifier(pk), table)
        else:
            q = sql.SQL("SELECT count(*), NULL FROM {}").format(table)
        row = conn.execute(q).fetchone()
        assert row is not None
        out[qualified(schema, name)] = TableSnapshot(rows=int(row[0]), data=data, max_pk=row[1])
        if on_table:
            on_table(qualified(schema, name))
    return out
