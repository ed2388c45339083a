"""SQLite source: the online backup API into a temp file (consistent while writers write), then
counts from that copy, then zstd | age into storage like any other object."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...config.backups import Backup
from ...errors import CouldNotRun
from .manifest import StoredObject, TableSnapshot
from .source import Dump, Sink, ms, store_stream
from .stream import Chain

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


class SqliteSource:
    """The SQLite file at ``path`` (``resources.<source>``, already resolved against the config's directory)."""

    kind = "sqlite"

    def __init__(self, spec: Backup, path: Path) -> None:
        self.spec, self.path = spec, path

    def prepare(self) -> dict[str, str]:
        if not self.path.is_file():
            raise CouldNotRun(f"resources.{self.spec.source}: no SQLite file at {self.path}", retryable=False)
        return {"sqlite": sqlite3.sqlite_version}

    def options(self) -> dict[str, Any]:
        return {"zstd": {"level": self.spec.zstd.level, "threads": self.spec.zstd.threads}}

    def dump(self, sink: Sink) -> Dump:
        path, storage, bid, timings = self.path, sink.storage, sink.bid, sink.timings
        work = Path(tempfile.mkdtemp(prefix="opsbook-sqlite-"))
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
            timings["snapshot"] = ms(t0)
            t0 = time.perf_counter()
            obj_name = SQLITE_OBJECT + (".age" if sink.encryption else "")
            with open(copy, "rb") as f:
                chain = Chain(sink.tail, stdin=f)
            try:
                tap = store_stream(storage, bid, obj_name, chain, sink.progress.on_bytes)
            except BaseException:
                chain.kill()
                storage.abort(bid)
                raise
            finally:
                chain.close()
            timings["compress_store"] = ms(t0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        obj = StoredObject(obj_name, tap.size, tap.sha.hexdigest(), "sqlite", "zstd", sink.encryption)
        return Dump(created, tables, [obj])


__all__ = ["SqliteSource", "sqlite_tables"]
