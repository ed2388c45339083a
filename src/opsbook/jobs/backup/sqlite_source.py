"""SQLite source: the online backup API into a temp file (consistent while writers write), then
counts from that copy, then zstd | age into storage like any other object."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ... import __version__
from ...config.backups import Backup
from ...config.load import Config
from ...config.resources import SqliteResource
from ...errors import CouldNotRun, OpsbookError
from .manifest import Manifest, StoredObject, TableSnapshot, new_id
from .storage import storage_for
from .stream import Chain, Tap

if TYPE_CHECKING:
    from .pipeline import BackupResult, Progress

SQLITE_OBJECT = "db.sqlite.zst"


def sqlite_tables(conn: sqlite3.Connection) -> dict[str, TableSnapshot]:
    out: dict[str, TableSnapshot] = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for name in names:
        q = '"' + name.replace('"', '""') + '"'
        pk = [r[1] for r in conn.execute(f"PRAGMA table_info({q})") if r[5] == 1]
        if len(pk) == 1:
            c = '"' + pk[0].replace('"', '""') + '"'
            rows, mx = conn.execute(f"SELECT count(*), CAST(max({c}) AS TEXT) FROM {q}").fetchone()
        else:
            rows, mx = conn.execute(f"SELECT count(*), NULL FROM {q}").fetchone()
        out[name] = TableSnapshot(rows=int(rows), max_pk=mx)
    return out


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def run_sqlite_backup(config: Config, name: str, spec: Backup, src: SqliteResource, progress: Progress,
                      now: Callable[[], datetime]) -> BackupResult:
    from .pipeline import BackupResult, _recipients, _tail

    t_start = time.perf_counter()
    path = Path(os.path.expanduser(src.path))
    path = path if path.is_absolute() else config.base_dir / path
    if not path.is_file():
        raise CouldNotRun(f"resources.{spec.source}: no SQLite file at {path}", retryable=False)
    storage = storage_for(config, name)
    versions = {"opsbook": __version__, "sqlite": sqlite3.sqlite_version}
    tail = _tail(config, spec, versions)
    recipients = _recipients(config, spec)
    storage.preflight()
    work = Path(tempfile.mkdtemp(prefix="opsbook-sqlite-"))
    bid = new_id(now())
    timings: dict[str, float] = {}
    try:
        copy = work / "db.sqlite"
        t0 = time.perf_counter()
        created = datetime.now(UTC)
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as s, sqlite3.connect(copy) as d:
                s.backup(d)  # one step: a consistent copy even while others write
            with sqlite3.connect(copy) as d:
                tables = sqlite_tables(d)
        except sqlite3.Error as e:
            raise CouldNotRun(f"cannot back up {path}: {e}") from None
        timings["snapshot"] = _ms(t0)
        t0 = time.perf_counter()
        obj_name = SQLITE_OBJECT + (".age" if spec.encrypt else "")
        with open(copy, "rb") as f:
            chain = Chain(tail, stdin=f)
        try:
            tap = Tap(chain, progress.on_bytes)
            storage.write_object(bid, obj_name, tap)  # type: ignore[arg-type]
            if not tap.done:
                tap.read()
        except BaseException:
            chain.kill()
            storage.abort(bid)
            raise
        finally:
            chain.close()
        timings["compress_store"] = _ms(t0)
        obj = StoredObject(obj_name, tap.size, tap.sha.hexdigest(), "sqlite", "zstd",
                           "age" if spec.encrypt else None)
        m = Manifest(id=bid, backup=name, source_kind="sqlite", created_at=created.isoformat(),
                     finished_at=now().isoformat(), objects=[obj], tables=tables, recipients=recipients,
                     versions=versions, options={"zstd": {"level": spec.zstd.level, "threads": spec.zstd.threads}},
                     timings_ms=timings)
        m.timings_ms["total"] = _ms(t_start)
        try:
            storage.commit(bid, m.dumps())
        except BaseException:
            storage.abort(bid)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupResult(name, m, storage.where(bid), {obj_name: storage.where(bid, obj_name)})


__all__ = ["OpsbookError", "run_sqlite_backup", "sqlite_tables"]
