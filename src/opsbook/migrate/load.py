"""Load: create tables, COPY each table in its own transaction, then keys, foreign keys,
sequences.

Resumable per table: ``_opsbook_migration`` in the target holds each table's status. A table
is loaded as TRUNCATE + COPY + mark done in ONE transaction, so after an interruption a done
table is skipped and any other table is loaded again from scratch: never half, never twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ..errors import UsageError
from .pg import connect, pg_error
from .plan import TablePlan
from .source import qi

STATE = "_opsbook_migration"
BATCH_ROWS = 20000
Progress = Callable[[str, int, int], None]  # table, rows done, rows total


@dataclass
class TableLoad:
    table: str
    rows: int
    status: str  # loaded | skipped (done in an earlier run)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "status": self.status,
                "seconds": round(self.seconds, 3),
                "rows_per_s": round(self.rows / self.seconds) if self.seconds > 0 else None}


def read_state(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, int, str]]:
    """table -> (status, rows, source fingerprint); empty when no migration ran here."""
    row = conn.execute("SELECT to_regclass(%s)", (STATE,)).fetchone()
    if row is None or row[0] is None:
        return {}
    return {r[0]: (r[1], int(r[2]), r[3])
            for r in conn.execute(f"SELECT table_name, status, rows, source FROM {STATE}")}


def prepare(dsn: str, plans: list[TablePlan], fingerprint: str) -> dict[str, str]:
    """Create the state table and the missing tables (no keys yet). Returns table -> status."""
    with connect(dsn) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {STATE} (table_name text PRIMARY KEY, status text "
                     "NOT NULL, rows bigint NOT NULL DEFAULT 0, source text NOT NULL, "
                     "updated_at timestamptz NOT NULL DEFAULT now())")
        state = read_state(conn)
        existing = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        for tp in plans:
            st = state.get(tp.name)
            if st is not None and st[2] != fingerprint:
                raise UsageError(
                    f"the target's table {tp.name} was migrated from a different source "
                    "(schema or file size changed)",
                    hint="drop the migrated tables and _opsbook_migration in the target to start over")
            if st is None:
                if tp.name in existing:
                    raise UsageError(f"table {tp.name} already exists in the target and was not "
                                     "created by this migration",
                                     hint="migrate into an empty database, or drop that table")
                conn.execute(tp.create_sql())
                conn.execute(f"INSERT INTO {STATE} (table_name, status, source) VALUES (%s, 'pending', %s)",
                             (tp.name, fingerprint))
        conn.commit()
        return {k: v[0] for k, v in read_state(conn).items()}


def load_table(dsn: str, open_source: Callable[[], sqlite3.Connection], tp: TablePlan,
               progress: Progress | None = None) -> TableLoad:
    t0 = time.monotonic()
    src = open_source()
    src.text_factory = bytes  # the lines go to PostgreSQL as bytes; decoding them would be wasted
    lossy_text = any(c.lossy and c.t.kind == "text" for c in tp.columns)
    try:
        with connect(dsn) as conn:
            conn.execute(f"UPDATE {STATE} SET status = 'loading', updated_at = now() WHERE table_name = %s",
                         (tp.name,))
            conn.commit()
            cols = ", ".join(qi(c.name) for c in tp.columns)
            n = 0
            try:
                with conn.cursor() as cur:
                    cur.execute(f"TRUNCATE {qi(tp.name)}")
                    # FREEZE: the table was emptied in this transaction, so rows can be written
                    # frozen and nothing rewrites them later (hint bits, anti-wraparound vacuum)
                    with cur.copy(f"COPY {qi(tp.name)} ({cols}) FROM STDIN WITH (FREEZE)") as cp:
                        rows = src.execute(tp.select_sql())
                        while batch := rows.fetchmany(BATCH_ROWS):
                            buf = b"\n".join([r[0] for r in batch])
                            if lossy_text:  # --allow-lossy: invalid UTF-8 becomes U+FFFD
                                buf = buf.decode("utf-8", "replace").encode()
                            cp.write(buf + b"\n")
                            n += len(batch)
                            if progress:
                                progress(tp.name, n, tp.rows)
                    cur.execute(f"UPDATE {STATE} SET status = 'done', rows = %s, updated_at = now() "
                                "WHERE table_name = %s", (n, tp.name))
                conn.commit()
            except psycopg.Error as e:
                raise pg_error(f"loading {tp.name}", e) from None
    finally:
        src.close()
    return TableLoad(tp.name, n, "loaded", time.monotonic() - t0)


def existing_names(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = current_schema() UNION "
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()").fetchall()
    return {r[0] for r in rows}


def build_keys(dsn: str, tp: TablePlan) -> list[str]:
    """Primary key, unique constraints and indexes of one table; skips what exists (reruns)."""
    return _run_ddl(dsn, tp.key_sql(), f"keys of {tp.name}")


def build_fks(dsn: str, tp: TablePlan) -> list[str]:
    return _run_ddl(dsn, tp.fk_sql(), f"foreign keys of {tp.name}")


def _run_ddl(dsn: str, ddl: list[tuple[str, str]], what: str) -> list[str]:
    done = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        have = existing_names(conn)
        for name, sql in ddl:
            if name in have:
                continue
            try:
                conn.execute(sql)
            except psycopg.errors.ForeignKeyViolation:
                # orphan rows in the source (SQLite enforces foreign keys only when asked):
                # keep the constraint for new rows; reconcile counts the orphans and fails
                conn.execute(sql + " NOT VALID")
            except psycopg.Error as e:
                raise pg_error(f"{what}: {sql}", e) from None
            done.append(name)
    return done


def reset_sequences(dsn: str, plans: list[TablePlan]) -> None:
    """Every identity's next value past max(id) and past ids SQLite's AUTOINCREMENT handed out."""
    with connect(dsn, autocommit=True) as conn:
        for tp in plans:
            if not tp.identity:
                continue
            col, floor = qi(tp.identity), max(tp.seq_floor, 0)
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                f"greatest(coalesce(max({col}), 0), {floor}, 1), "
                f"greatest(coalesce(max({col}), 0), {floor}) >= 1) FROM {qi(tp.name)}",
                (qi(tp.name), tp.identity))
