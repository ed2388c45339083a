"""Fetch, decrypt + decompress and restore a backup: into a scratch PostgreSQL database or a
temporary SQLite file. Each restore is a context manager that always cleans up behind it."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ...config.secrets import redactor
from ...errors import BackupFailed, QueryFailed
from ..backup.fetch import dump_file_path, fetch, to_file, unpack
from ..backup.manifest import Manifest, TableSnapshot
from ..backup.sqlite_source import sqlite_tables
from ..backup.storage import Storage
from ..backup.tools import libpq_args, stderr_tail, with_dbname
from .context import Clock
from .result import DrillResult


def scratch_name(drill: str, at: datetime) -> str:
    safe = re.sub(r"[^a-z0-9_]", "_", drill.lower())[:30]
    return f"drill_{safe}_{at:%Y%m%d_%H%M%S}"


def fetch_and_unpack(storage: Storage, m: Manifest, work: Path, ident: str | None, dest: Path,
                     clock: Clock) -> None:
    """The backup's one object, fetched (size + sha256), then decrypted + decompressed into ``dest``."""
    obj = m.objects[0]
    with clock.phase("fetch"):
        path = fetch(storage, m, obj, work)
    with clock.phase("decrypt_decompress"):
        unpack(path, obj, m, ident, to_file(dest))
    if path.parent == work:
        path.unlink(missing_ok=True)  # the downloaded ciphertext is no longer needed


def fetch_and_unpack_directory(storage: Storage, m: Manifest, work: Path, ident: str | None, dest: Path,
                               clock: Clock) -> None:
    """Every object of a directory dump, one at a time (fetch, then decrypt + decompress into ``dest``)."""
    dest.mkdir()
    for obj in m.objects:
        with clock.phase("fetch"):
            path = fetch(storage, m, obj, work)
        try:
            with clock.phase("decrypt_decompress"):
                unpack(path, obj, m, ident, to_file(dump_file_path(dest, obj)))
        finally:
            if path.parent == work:
                path.unlink(missing_ok=True)


def pg_restore(pg_restore: str, dsn: str, dump: Path, jobs: int) -> None:
    conninfo, env = libpq_args(dsn)
    argv = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--jobs={jobs}",
            "--no-password", "--dbname", conninfo, str(dump)]
    with tempfile.TemporaryFile() as err:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env).returncode
        if rc != 0:
            err.seek(0)
            raise BackupFailed(f"pg_restore exited with status {rc}: {redactor.text(stderr_tail(err.read()))}",
                               hint="rerun with --keep to inspect the scratch database")


@contextmanager
def scratch_database(admin: str, db: str, result: DrillResult, keep: bool) -> Iterator[str]:
    """CREATE DATABASE ``db``; yields its DSN; drops it afterwards unless the drill failed and ``keep``."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    failed = True
    try:
        yield with_dbname(admin, db)
        failed = not result.ok
    finally:
        if failed and keep:
            result.kept = True
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


class PgDatabase:
    """A restored scratch database; the connection opens on first use."""

    kind = "postgres"

    def __init__(self, dsn: str) -> None:
        self.target = dsn
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            self._conn = psycopg.connect(self.target, autocommit=True)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def count(self, table: str, snap: TableSnapshot) -> tuple[int | None, str | None]:
        conn = self.conn
        schema, _, name = table.partition(".")
        ident = sql.Identifier(schema, name)
        try:
            if snap.max_pk is not None:
                pk = conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND i.indisprimary",
                    (str(ident.as_string(conn)),)).fetchone()
                if pk:
                    q = sql.SQL("SELECT count(*), max({})::text FROM {}").format(sql.Identifier(pk[0]), ident)
                    row = conn.execute(q).fetchone()
                    assert row is not None
                    return int(row[0]), row[1]
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
            assert row is not None
            return int(row[0]), None
        except psycopg.Error:
            return None, None

    def newest(self, table: str, column: str) -> Any:
        schema, _, name = table.rpartition(".")
        ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        try:
            row = self.conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), ident)).fetchone()
        except psycopg.Error as e:
            raise QueryFailed(str(e).strip()) from None
        return row[0] if row else None

    def query(self, q: str) -> tuple[list[str], list[Any]]:
        try:
            cur = self.conn.execute(q)
            rows = cur.fetchall() if cur.description else []
            return [d.name for d in cur.description or []], rows
        except psycopg.Error as e:
            raise QueryFailed(str(e).strip()) from None


class SqliteDatabase:
    """A restored SQLite file; the connection opens on first use."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)
        self._conn: sqlite3.Connection | None = None
        self._tables: dict[str, TableSnapshot] | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def count(self, table: str, snap: TableSnapshot) -> tuple[int | None, str | None]:
        if self._tables is None:
            self._tables = sqlite_tables(self.conn)
        a = self._tables.get(table)
        return (a.rows, a.max_pk) if a else (None, None)

    def newest(self, table: str, column: str) -> Any:
        try:
            row = self.conn.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()
        except sqlite3.Error as e:
            raise QueryFailed(str(e)) from None
        return row[0] if row else None

    def query(self, q: str) -> tuple[list[str], list[Any]]:
        try:
            cur = self.conn.execute(q)
            rows = cur.fetchall()
            return [x[0] for x in cur.description or []], rows
        except sqlite3.Error as e:
            raise QueryFailed(str(e)) from None


def sqlite_integrity_check(path: Path) -> list[Any]:
    """``PRAGMA integrity_check`` of the restored file; a file that is no database fails the restore."""
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise BackupFailed(f"the restored file is not a SQLite database: {e}") from None

