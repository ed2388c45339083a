"""Load: create tables, COPY each table in its own transaction and build its keys, then
foreign keys and sequences.

Resumable per table: ``_opsbook_migration`` in the target holds each table's status. A table
is loaded as TRUNCATE + COPY + mark done in ONE transaction, so after an interruption a done
table is skipped and any other table is loaded again from scratch: never half, never twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from ..errors import MigrationFailed, UsageError
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
                        for count, buf in _blocks(src, tp):
                            if lossy_text:  # --allow-lossy: invalid UTF-8 becomes U+FFFD
                                buf = buf.decode("utf-8", "replace").encode()
                            cp.write(buf + b"\n")
                            n += count
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


def _blocks(src: sqlite3.Connection, tp: TablePlan) -> Iterator[tuple[int, bytes]]:
    """The table's COPY lines in blocks of up to BATCH_ROWS: (rows, newline-joined lines)."""
    if tp.rowid_name() is None:  # WITHOUT ROWID: one streaming SELECT, joined here
        rows = src.execute(tp.select_sql())
        while batch := rows.fetchmany(BATCH_ROWS):
            yield len(batch), b"\n".join([r[0] for r in batch])
        return
    # chunks by rowid, in one read transaction: the chunks see one state of the file, as one
    # SELECT would
    src.execute("BEGIN")
    try:
        last = None
        while True:
            first = last is None
            count, lines, last, buf = src.execute(tp.chunk_sql(BATCH_ROWS, first), () if first else (last,)).fetchone()
            if not count:
                return
            if lines != count:  # group_concat skips NULL; a row must never vanish
                raise MigrationFailed(f"loading {tp.name}: {count - lines} row(s) up to rowid {last} "
                                      "produced no COPY line", hint="please report this as a bug")
            yield count, buf
    finally:
        src.rollback()


def existing_names(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = current_schema() UNION "
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()").fetchall()
    return {r[0] for r in rows}


def build_keys(dsn: str, tp: TablePlan) -> list[str]:
    """Primary key, unique constraints and indexes of one table; skips what exists (reruns)."""
    return _run_ddl(dsn, tp.key_sql(), f"keys of {tp.name}")


def add_fks(dsn: str, plans: list[TablePlan]) -> dict[str, list[str]]:
    """Create every missing foreign key NOT VALID (catalog only, instant); return per child
    table the plan's foreign keys still to validate (new ones, and any an earlier run left
    not validated).

    ADD FOREIGN KEY would validate at once, under a lock on both tables that conflicts with
    the same lock taken by another one, so two of them could not run side by side. VALIDATE
    CONSTRAINT locks only the child against other validations (the parent just against
    writes), so ``validate_fks`` can check the children in parallel: same check, same end state.
    """
    todo: dict[str, list[str]] = {}
    with connect(dsn, autocommit=True) as conn:
        have = existing_names(conn)
        for tp in plans:
            for name, sql in tp.fk_sql():
                if name in have:
                    continue
                try:
                    conn.execute(sql + " NOT VALID")
                except psycopg.Error as e:
                    raise pg_error(f"foreign keys of {tp.name}: {sql}", e) from None
        pending = {r[0] for r in conn.execute(
            "SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE c.contype = 'f' AND NOT c.convalidated AND n.nspname = current_schema()")}
    for tp in plans:
        names = [name for name, _ in tp.fk_sql() if name in pending]
        if names:
            todo[tp.name] = names
    return todo


def validate_fks(dsn: str, table: str, names: list[str]) -> None:
    """Validate one child table's foreign keys; orphan rows leave a key NOT VALID (still
    enforced for new rows), and reconcile counts the orphans and fails."""
    with connect(dsn, autocommit=True) as conn:
        # the check is one anti-join against the parent; a hash of a parent with a few
        # million keys fits in this instead of spilling to disk in batches
        conn.execute("SET work_mem = '256MB'")
        for name in names:
            try:
                conn.execute(f"ALTER TABLE {qi(table)} VALIDATE CONSTRAINT {qi(name)}")
            except psycopg.errors.ForeignKeyViolation:
                pass
            except psycopg.Error as e:
                raise pg_error(f"foreign keys of {table}: validating {name}", e) from None


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
