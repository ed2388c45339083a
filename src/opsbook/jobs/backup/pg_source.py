"""PostgreSQL source: pg_dump (custom: one streamed object; directory: ``-j N`` files) in one
exported snapshot, with the exact row counts taken in that same snapshot beside the dump."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg

from ...config.backups import Backup
from ...config.secrets import redactor
from ...errors import BackupFailed, CouldNotRun, OpsbookError
from .manifest import StoredObject, TableSnapshot, dump_object_name
from .snapshot import count_rows, select_tables
from .source import Dump, Progress, Sink, ms, store_stream
from .storage import Storage
from .stream import Chain
from .tools import find, libpq_args, stderr_tail, version

PG_OBJECT = "dump.pgc.zst"


def _as_backup_error(e: BaseException) -> BaseException:
    """What a failed backup raises: our own errors and interrupts as they are, anything else as
    a BackupFailed whose message carries no secret."""
    if isinstance(e, OpsbookError | KeyboardInterrupt | SystemExit):
        return e
    return BackupFailed(f"backup failed: {type(e).__name__}: {redactor.text(str(e))}")


def _open_snapshot(dsn: str, source: str) -> psycopg.Connection:
    try:
        conn = psycopg.connect(dsn, connect_timeout=15, application_name="opsbook backup")
    except psycopg.OperationalError as e:
        raise CouldNotRun(f"cannot connect to resources.{source}: {redactor.text(str(e).strip())}",
                          hint="is the database up and the DSN right?") from None
    # one REPEATABLE READ transaction: its snapshot is exported to pg_dump, and the row counts
    # are taken in it too, so the manifest's counts describe exactly the dumped data
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return conn


class PostgresSource:
    """``resources.<source>`` (a PostgreSQL DSN, revealed) dumped as ``spec`` says."""

    kind = "postgres"

    def __init__(self, spec: Backup, dsn: str) -> None:
        self.spec, self.dsn = spec, dsn
        self.pg_dump = ""

    def prepare(self) -> dict[str, str]:
        self.pg_dump = find("pg_dump", self.spec.bin_dir, self.spec.pg_dump)
        return {"pg_dump": version(self.pg_dump)}

    def options(self) -> dict[str, Any]:
        return _options(self.spec)

    def dump(self, sink: Sink) -> Dump:
        spec = self.spec
        conn = _open_snapshot(self.dsn, spec.source)
        try:
            row = conn.execute("SELECT pg_export_snapshot(), now(), current_setting('server_version')").fetchone()
            assert row is not None
            snap, created, server = row[0], row[1].astimezone(UTC), row[2]
            selected = select_tables(conn, spec.schemas, spec.exclude_schemas, spec.tables,
                                     spec.exclude_tables, spec.exclude_table_data)
            conninfo, env = libpq_args(self.dsn)
            fmt = (["--format=custom"] if spec.format == "custom"
                   else ["--format=directory", f"--jobs={spec.dump_jobs}"])
            argv = [self.pg_dump, *fmt, "--compress=0", f"--snapshot={snap}", "--no-password"]
            argv += [f"--schema={p}" for p in spec.schemas] + [f"--exclude-schema={p}" for p in spec.exclude_schemas]
            argv += [f"--table={p}" for p in spec.tables] + [f"--exclude-table={p}" for p in spec.exclude_tables]
            argv += [f"--exclude-table-data={p}" for p in spec.exclude_table_data]
            argv += ["--dbname", conninfo]
            storage, bid, tail, enc = sink.storage, sink.bid, sink.tail, sink.encryption
            if spec.format == "directory":
                tables, objects = _dump_directory(storage, bid, argv, env, tail, enc, conn, selected, sink.progress,
                                                  sink.timings, spec.timeout)
            else:
                obj_name = PG_OBJECT + (".age" if enc else "")
                tables, sha, size = _dump(storage, bid, obj_name, argv, env, tail, conn, selected, sink.progress,
                                          sink.timings, spec.timeout)
                objects = [StoredObject(obj_name, size, sha, "pg_dump-custom", "zstd", enc)]
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()
        return Dump(created, tables, objects, {"server": server})


def _options(spec: Backup) -> dict[str, Any]:
    return {
        "format": spec.format, **({"jobs": spec.dump_jobs} if spec.format == "directory" else {}),
        "schemas": spec.schemas, "exclude_schemas": spec.exclude_schemas,
        "tables": spec.tables, "exclude_tables": spec.exclude_tables,
        "exclude_table_data": spec.exclude_table_data,
        "zstd": {"level": spec.zstd.level, "threads": spec.zstd.threads},
    }


class _RowCounter:
    """Exact row counts on the snapshot's connection, in a thread while the dump runs."""

    def __init__(self, conn: psycopg.Connection, selected: list[tuple[str, str, str | None, bool]],
                 progress: Progress, timings: dict[str, float]) -> None:
        self.counted: dict[str, TableSnapshot] = {}
        self.error: list[BaseException] = []
        self.done = 0

        def tick(_t: str) -> None:
            self.done += 1
            if progress.on_tables:
                progress.on_tables(self.done, len(selected))

        def count() -> None:
            t0 = time.perf_counter()
            try:
                self.counted.update(count_rows(conn, selected, tick))
            except BaseException as e:
                self.error.append(e)
            timings["row_counts"] = ms(t0)

        self.thread = threading.Thread(target=count, name="opsbook-row-counts", daemon=True)
        self.thread.start()

    def result(self) -> dict[str, TableSnapshot]:
        self.thread.join()
        if self.error:
            raise BackupFailed(f"row counts failed: {redactor.text(str(self.error[0]).strip())}") from None
        return self.counted


def _dump_directory(storage: Storage, bid: str, argv: list[str], env: dict[str, str],
                    tail: list[tuple[str, list[str]]], enc: str | None, conn: psycopg.Connection,
                    selected: list[tuple[str, str, str | None, bool]], progress: Progress,
                    timings: dict[str, float], timeout: float | None
                    ) -> tuple[dict[str, TableSnapshot], list[StoredObject]]:
    """``pg_dump -Fd -j N`` into a local temp directory, then each file through zstd | age into storage.

    The temp copy is the price of the parallel dump (pg_dump -j writes files, not a stream); it
    is removed whatever happens, and a failure aborts the partial backup as for custom format.
    """
    tmp = Path(tempfile.mkdtemp(prefix="opsbook-dump-", dir=os.environ.get("OPSBOOK_TMPDIR")))
    out = tmp / "dump"
    objects: list[StoredObject] = []
    killed: list[str] = []
    proc: subprocess.Popen[bytes] | None = None
    chain: Chain | None = None

    def kill(reason: str) -> None:
        killed.append(reason)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        if chain is not None:
            chain.kill(reason)

    timer = threading.Timer(timeout, kill, args=("timed out",)) if timeout else None
    counter = _RowCounter(conn, selected, progress, timings)
    try:
        if timer:
            timer.start()
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen([*argv, "--file", str(out)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
            except OSError as e:
                raise BackupFailed(f"cannot start pg_dump: {e.strerror}") from None
            rc = proc.wait()
            if rc != 0:
                err.seek(0)
                how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
                if killed:
                    how += f" ({killed[0]})"
                tail_text = stderr_tail(err.read())
                raise BackupFailed(f"pg_dump {how}" + (f": {redactor.text(tail_text)}" if tail_text else ""),
                                   hint="nothing was listed; the partial backup was removed")
        timings["dump"] = ms(t0)
        tables = counter.result()
        t0 = time.perf_counter()
        stored = 0
        for f in sorted(out.iterdir()):
            name = dump_object_name(f.name, enc is not None)
            with open(f, "rb") as src:
                chain = Chain(tail, stdin=src)
            try:
                base = stored

                def on_bytes(n: int, base: int = base) -> None:
                    if progress.on_bytes:
                        progress.on_bytes(base + n)

                tap = store_stream(storage, bid, name, chain, on_bytes)
            finally:
                chain.close()
                chain = None
            if killed:
                raise BackupFailed(f"backup {killed[0]}")
            stored += tap.size
            objects.append(StoredObject(name, tap.size, tap.sha.hexdigest(), "pg_dump-directory", "zstd", enc))
            f.unlink()  # the plain copy is not needed any more
        timings["store"] = ms(t0)
    except BaseException as e:
        kill("failed")
        counter.thread.join(timeout=30)
        storage.abort(bid)
        raise _as_backup_error(e) from None
    finally:
        if timer:
            timer.cancel()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return tables, objects


def _dump(storage: Storage, bid: str, obj: str, argv: list[str], env: dict[str, str],
          tail: list[tuple[str, list[str]]], conn: psycopg.Connection,
          selected: list[tuple[str, str, str | None, bool]], progress: Progress,
          timings: dict[str, float], timeout: float | None) -> tuple[dict[str, TableSnapshot], str, int]:
    """Run the chain into storage while counting rows on ``conn``; abort everything on failure."""
    counted: dict[str, TableSnapshot] = {}
    count_error: list[BaseException] = []
    total = len(selected)

    def on_table(_t: str) -> None:
        if progress.on_tables:
            progress.on_tables(len(done), total)

    done: list[str] = []

    def count() -> None:
        t0 = time.perf_counter()
        try:
            def tick(t: str) -> None:
                done.append(t)
                on_table(t)
            counted.update(count_rows(conn, selected, tick))
        except BaseException as e:
            count_error.append(e)
        timings["row_counts"] = ms(t0)

    t0 = time.perf_counter()
    chain = Chain([("pg_dump", argv), *tail], env=env)
    timer = threading.Timer(timeout, chain.kill, args=("timed out",)) if timeout else None
    counter = threading.Thread(target=count, name="opsbook-row-counts", daemon=True)
    counter.start()
    try:
        if timer:
            timer.start()
        tap = store_stream(storage, bid, obj, chain, progress.on_bytes)
        counter.join()
        if count_error:
            e = count_error[0]
            raise BackupFailed(f"row counts failed: {redactor.text(str(e).strip())}") from None
    except BaseException as e:
        chain.kill()
        counter.join(timeout=30)
        storage.abort(bid)
        raise _as_backup_error(e) from None
    finally:
        if timer:
            timer.cancel()
        chain.close()
    timings["dump"] = ms(t0)
    return counted, tap.sha.hexdigest(), tap.size
