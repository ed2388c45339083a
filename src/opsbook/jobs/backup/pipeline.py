"""``opsbook backup run``: dump in one snapshot, count rows in that snapshot, store, manifest last."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from ... import __version__
from ...config.backups import Backup
from ...config.load import Config
from ...config.resources import PostgresResource, SqliteResource
from ...config.secrets import redactor, reveal
from ...errors import BackupFailed, CouldNotRun, OpsbookError, UsageError
from .manifest import Manifest, StoredObject, TableSnapshot, dump_object_name, new_id
from .snapshot import count_rows, select_tables
from .storage import Storage, storage_for
from .stream import Chain, Tap, compressor, encryptor
from .tools import find, libpq_args, stderr_tail, version

SCHEMA = "opsbook.backup/1"
PG_OBJECT = "dump.pgc.zst"


@dataclass
class Progress:
    """Callbacks for a live display; all optional."""

    on_bytes: Callable[[int], None] | None = None
    on_tables: Callable[[int, int], None] | None = None  # done, total


@dataclass
class BackupResult:
    name: str
    manifest: Manifest
    location: str
    objects_at: dict[str, str] = field(default_factory=dict)
    partials_removed: list[str] = field(default_factory=list)  # left by killed runs, removed by this one

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "schema": SCHEMA, "ok": True, "name": self.name, "id": m.id, "location": self.location,
            "created_at": m.created_at, "finished_at": m.finished_at, "size": m.size,
            "encrypted": m.encrypted, "source_kind": m.source_kind,
            "objects": [{**o.to_dict(), "location": self.objects_at.get(o.name)} for o in m.objects],
            "timings_ms": m.timings_ms,
            "tables": {k: v.to_dict() for k, v in m.tables.items()},
            "versions": m.versions, "partials_removed": self.partials_removed,
        }



def _as_backup_error(e: BaseException) -> BaseException:
    """What a failed backup raises: our own errors and interrupts as they are, anything else as
    a BackupFailed whose message carries no secret."""
    if isinstance(e, OpsbookError | KeyboardInterrupt | SystemExit):
        return e
    return BackupFailed(f"backup failed: {type(e).__name__}: {redactor.text(str(e))}")

def backup_spec(config: Config, name: str) -> Backup:
    spec: Backup | None = config.model.backups.get(name)
    if spec is None:
        raise UsageError(f"no backup named {name!r}",
                         hint=f"defined: {', '.join(config.model.backups) or '(none)'}")
    return spec


# Without timeout: a partial directory untouched for a day belongs to no running backup.
STALE_WITHOUT_TIMEOUT = timedelta(days=1).total_seconds()


def stale_after(spec: Backup) -> float:
    """Seconds without a write after which a ``.<id>.partial/`` is a dead run's: the backup's
    ``timeout:`` (a run is killed by then), else a day."""
    return float(spec.timeout) if spec.timeout else STALE_WITHOUT_TIMEOUT


def remove_stale_partials(storage: Storage, spec: Backup, now: datetime, dry_run: bool = False) -> list[str]:
    """Remove (or, dry, list) what killed runs left; best effort, it never fails a run."""
    try:
        return storage.stale_partials(stale_after(spec), now.timestamp(), remove=not dry_run)
    except OSError:
        return []


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def _recipients_file(config: Config, spec: Backup) -> str | None:
    if spec.encrypt is None or not spec.encrypt.age_recipients_file:
        return None
    p = Path(os.path.expanduser(spec.encrypt.age_recipients_file))
    return str(p if p.is_absolute() else config.base_dir / p)


def _recipients(config: Config, spec: Backup) -> list[str]:
    if spec.encrypt is None:
        return []
    out = list(spec.encrypt.age_recipients)
    rf = _recipients_file(config, spec)
    if rf:
        try:
            out += [ln.strip() for ln in Path(rf).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        except OSError as e:
            raise UsageError(f"backups: cannot read age_recipients_file {rf}: {e.strerror}") from None
    return out


def _tail(config: Config, spec: Backup, versions: dict[str, str]) -> list[tuple[str, list[str]]]:
    """zstd, then age when encrypting."""
    zstd = find("zstd")
    versions["zstd"] = version(zstd)
    cmds = [compressor(zstd, spec.zstd.level, spec.zstd.threads)]
    if spec.encrypt is not None:
        age = find("age")
        versions["age"] = version(age)
        cmds.append(encryptor(age, spec.encrypt.age_recipients, _recipients_file(config, spec)))
    return cmds


def run_backup(config: Config, name: str, progress: Progress | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> BackupResult:
    spec = backup_spec(config, name)
    src = config.resources[spec.source]
    swept = remove_stale_partials(storage_for(config, name), spec, now())
    if isinstance(src, SqliteResource):
        from .sqlite_source import run_sqlite_backup

        result = run_sqlite_backup(config, name, spec, src, progress or Progress(), now)
    else:
        assert isinstance(src, PostgresResource)
        result = _run_pg(config, name, spec, src, progress or Progress(), now)
    result.partials_removed = swept
    return result


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


def _run_pg(config: Config, name: str, spec: Backup, src: PostgresResource, progress: Progress,
            now: Callable[[], datetime]) -> BackupResult:
    t_start = time.perf_counter()
    storage = storage_for(config, name)
    dsn = reveal(src.dsn, f"resources.{spec.source}.dsn") or ""
    pg_dump = find("pg_dump", spec.bin_dir, spec.pg_dump)
    versions = {"opsbook": __version__, "pg_dump": version(pg_dump)}
    tail = _tail(config, spec, versions)
    recipients = _recipients(config, spec)
    storage.preflight()
    conn = _open_snapshot(dsn, spec.source)
    try:
        row = conn.execute("SELECT pg_export_snapshot(), now(), current_setting('server_version')").fetchone()
        assert row is not None
        snap, created, versions["server"] = row[0], row[1].astimezone(UTC), row[2]
        selected = select_tables(conn, spec.schemas, spec.exclude_schemas, spec.tables,
                                 spec.exclude_tables, spec.exclude_table_data)
        bid = new_id(now())
        conninfo, env = libpq_args(dsn)
        fmt = ["--format=custom"] if spec.format == "custom" else ["--format=directory", f"--jobs={spec.dump_jobs}"]
        argv = [pg_dump, *fmt, "--compress=0", f"--snapshot={snap}", "--no-password"]
        argv += [f"--schema={p}" for p in spec.schemas] + [f"--exclude-schema={p}" for p in spec.exclude_schemas]
        argv += [f"--table={p}" for p in spec.tables] + [f"--exclude-table={p}" for p in spec.exclude_tables]
        argv += [f"--exclude-table-data={p}" for p in spec.exclude_table_data]
        argv += ["--dbname", conninfo]
        timings: dict[str, float] = {}
        enc = "age" if spec.encrypt else None
        if spec.format == "directory":
            tables, objects = _dump_directory(storage, bid, argv, env, tail, enc, conn, selected, progress,
                                              timings, spec.timeout)
        else:
            obj_name = PG_OBJECT + (".age" if spec.encrypt else "")
            tables, sha, size = _dump(storage, bid, obj_name, argv, env, tail, conn, selected, progress,
                                      timings, spec.timeout)
            objects = [StoredObject(obj_name, size, sha, "pg_dump-custom", "zstd", enc)]
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
    manifest = Manifest(
        id=bid, backup=name, source_kind="postgres", created_at=created.isoformat(),
        finished_at=now().isoformat(), objects=objects, tables=tables, recipients=recipients,
        versions=versions, options=_options(spec), timings_ms=timings,
    )
    t0 = time.perf_counter()
    try:
        manifest.timings_ms["total"] = _ms(t_start)
        storage.commit(bid, manifest.dumps())
    except BaseException:
        storage.abort(bid)
        raise
    manifest.timings_ms["commit"] = _ms(t0)
    return BackupResult(name, manifest, storage.where(bid), {o.name: storage.where(bid, o.name) for o in objects})


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
            timings["row_counts"] = _ms(t0)

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
        timings["dump"] = _ms(t0)
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

                tap = Tap(chain, on_bytes)
                storage.write_object(bid, name, tap)  # type: ignore[arg-type]
                if not tap.done:
                    tap.read()
            finally:
                chain.close()
                chain = None
            if killed:
                raise BackupFailed(f"backup {killed[0]}")
            stored += tap.size
            objects.append(StoredObject(name, tap.size, tap.sha.hexdigest(), "pg_dump-directory", "zstd", enc))
            f.unlink()  # the plain copy is not needed any more
        timings["store"] = _ms(t0)
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
        timings["row_counts"] = _ms(t0)

    t0 = time.perf_counter()
    chain = Chain([("pg_dump", argv), *tail], env=env)
    timer = threading.Timer(timeout, chain.kill, args=("timed out",)) if timeout else None
    counter = threading.Thread(target=count, name="opsbook-row-counts", daemon=True)
    counter.start()
    try:
        if timer:
            timer.start()
        tap = Tap(chain, progress.on_bytes)
        storage.write_object(bid, obj, tap)  # type: ignore[arg-type]
        if not tap.done:  # a consumer that stopped early must not hide a failed dump
            tap.read()
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
    timings["dump"] = _ms(t0)
    return counted, tap.sha.hexdigest(), tap.size
