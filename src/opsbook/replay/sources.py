"""Where events come from, each a generator that never holds the whole source: a server-side
cursor fetched ``fetch`` rows at a time (PostgreSQL), a cursor's ``fetchmany`` (SQLite), lines
read one at a time with a size cap (files, a command's stdout).

``open_source`` returns (events, seeks): ``seeks`` says the source started after the cursor's
``position`` itself (an ordered query, files); otherwise the caller skips ``cursor.seq + 1``
events by counting.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..checks._sql import jsonable, sqlite_read_only
from ..config.replay import CommandSource, JsonlSource, Replay, SqlSource
from ..config.resources import PostgresResource, SqliteResource
from ..config.secrets import redactor, reveal
from ..errors import CouldNotRun, UsageError
from .event import Event, Fields, from_json, lookup, text_of

_REF = ("${since}", "${until}")


def open_source(spec: Replay, resources: dict[str, Any], fields: Fields, since: datetime | None,
                until: datetime | None, position: dict[str, Any] | None,
                base_dir: Path | None = None) -> tuple[Iterator[Event], bool]:
    """``base_dir`` (the config's directory) is where relative paths start."""
    src = spec.source
    base = base_dir or Path.cwd()
    if src.sql is not None:
        return _sql(src.sql, resources, fields, since, until, position, base)
    if src.jsonl is not None:
        return jsonl(src.jsonl, fields, since, until, position, base), True
    assert src.command is not None
    return command(src.command, fields, since, until), False


# -- SQL -----------------------------------------------------------------------------------------


def _sql(s: SqlSource, resources: dict[str, Any], fields: Fields, since: datetime | None, until: datetime | None,
         position: dict[str, Any] | None, base: Path) -> tuple[Iterator[Event], bool]:
    res = resources.get(s.resource)
    for ref, value in zip(_REF, (since, until), strict=True):
        if ref in s.query and value is None:
            raise UsageError(f"the query uses {ref}: give --{ref[2:-1]}", hint="e.g. --since 2026-03-01T00:00:00Z")
    seek = position if (position and s.order) else None
    if isinstance(res, PostgresResource):
        dsn = reveal(res.dsn, f"resources.{s.resource}.dsn") or ""
        return _pg(s, dsn, fields, since, until, seek), seek is not None
    if isinstance(res, SqliteResource):
        return _sqlite(s, str(base / os.path.expanduser(res.path)), fields, since, until, seek), seek is not None
    raise UsageError(f"replay source resource {s.resource!r} is not a postgres or sqlite resource")


def _query(s: SqlSource, mark: str, seek: dict[str, Any] | None) -> str:
    """The user's query with ${since}/${until} as placeholders, wrapped to start after the cursor
    (``(order, key) > (?, ?)``) when resuming; column names were validated as identifiers."""
    q = s.query.replace("%", "%%") if mark == "pg" else s.query
    ph = {"pg": "%({})s", "sqlite": ":{}"}[mark]
    for ref in _REF:
        q = q.replace(ref, ph.format(ref[2:-1]))
    if seek is None:
        return q
    a, k = ph.format("after_order"), ph.format("after_key")
    return (f"SELECT * FROM ({q}) AS replay_q WHERE (replay_q.{s.order}, replay_q.{s.key}) > ({a}, {k}) "
            f"ORDER BY replay_q.{s.order}, replay_q.{s.key}")


def _row_event(s: SqlSource, cols: list[str], row: tuple[Any, ...], fields: Fields) -> Event:
    rec = dict(zip(cols, row, strict=False))
    key = text_of(jsonable(rec.get(s.key)))
    if s.body is not None:
        raw = rec.get(s.body)
        body = raw if isinstance(raw, bytes) else raw.encode() if isinstance(raw, str) else \
            json.dumps(jsonable(raw), separators=(",", ":")).encode()
        parsed: Any = None
    else:
        parsed = {c: jsonable(v) for c, v in rec.items()}
        body = json.dumps(parsed, separators=(",", ":")).encode()

    def field(name: str | None) -> str | None:
        nonlocal parsed
        if name is None:
            return None
        if name in rec:
            return text_of(jsonable(rec[name]))
        if parsed is None:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        return text_of(lookup(parsed, name))

    position = {"order": jsonable(rec.get(s.order)), "key": jsonable(rec.get(s.key))} if s.order else None
    if key is None:
        return Event(f"row:{position}", body, position=position, error=f"the {s.key} column is empty")
    return Event(key, body, order=field(fields.order_key), idempotency=field(fields.idempotency) or key,
                 position=position)


def _pg(s: SqlSource, dsn: str, fields: Fields, since: datetime | None, until: datetime | None,
        seek: dict[str, Any] | None) -> Iterator[Event]:
    import psycopg

    params: dict[str, Any] = {"since": since, "until": until}
    if seek:
        params.update(after_order=seek["order"], after_key=seek["key"])
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as e:
        raise CouldNotRun(f"cannot connect to the replay source {s.resource}: {redactor.text(str(e).strip())}") \
            from None
    try:
        conn.read_only = True
        with conn.transaction(), conn.cursor(name="opsbook_replay") as cur:  # server-side: rows stay there
            cur.execute(_query(s, "pg", seek), params)
            cols = [d.name for d in cur.description or ()]
            while rows := cur.fetchmany(s.fetch):
                for row in rows:
                    yield _row_event(s, cols, row, fields)
    except psycopg.Error as e:
        raise CouldNotRun(f"the replay source query failed: {redactor.text(str(e).strip())}") from None
    finally:
        conn.close()


def _sqlite(s: SqlSource, path: str, fields: Fields, since: datetime | None, until: datetime | None,
            seek: dict[str, Any] | None) -> Iterator[Event]:
    def bind(t: datetime | None) -> Any:
        if t is None:
            return None
        return t.timestamp() if s.time_format == "unix" else t.isoformat()

    params: dict[str, Any] = {"since": bind(since), "until": bind(until)}
    if seek:
        params.update(after_order=seek["order"], after_key=seek["key"])
    if not Path(path).is_file():
        raise CouldNotRun(f"the replay source database {path} does not exist")
    # check_same_thread off: the first event is read on the caller's thread, the rest on the
    # sender's reader thread, one after the other, never at once
    conn = sqlite3.connect(f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro", uri=True,
                           check_same_thread=False)
    try:
        sqlite_read_only(conn)
        try:
            cur = conn.execute(_query(s, "sqlite", seek), params)
            cols = [d[0] for d in cur.description or ()]
            while rows := cur.fetchmany(s.fetch):
                for row in rows:
                    yield _row_event(s, cols, row, fields)
        except sqlite3.Error as e:
            raise CouldNotRun(f"the replay source query failed: {e}") from None
    finally:
        conn.close()


# -- files and commands --------------------------------------------------------------------------


def files_of(s: JsonlSource, base: Path) -> list[Path]:
    p = base / os.path.expanduser(s.path)
    if p.is_dir():
        found = sorted(f for f in p.iterdir() if f.suffix == ".jsonl" and f.is_file())
    elif p.is_file():
        found = [p]
    else:
        raise CouldNotRun(f"the replay source {s.path} does not exist")
    for f in found:
        if f.stat().st_size > s.max_file_bytes:
            raise UsageError(f"{f} is {f.stat().st_size} bytes, over the source's max_file_bytes "
                             f"({s.max_file_bytes})", hint="raise max_file_bytes or split the file")
    return found


def read_lines(f: IO[bytes], cap: int, offset: int = 0) -> Iterator[tuple[bytes | None, int]]:
    """(line without its newline, or None when it is longer than ``cap``; offset after it,
    counted from ``offset``: a pipe cannot tell)."""
    while True:
        line = f.readline(cap + 1)
        if not line:
            return
        offset += len(line)
        if len(line) > cap and not line.endswith(b"\n"):
            while (more := f.readline(cap + 1)) and not more.endswith(b"\n"):  # drop the rest, bounded reads
                offset += len(more)
            offset += len(more)
            yield None, offset
            continue
        yield line.rstrip(b"\r\n"), offset


def jsonl(s: JsonlSource, fields: Fields, since: datetime | None, until: datetime | None,
          position: dict[str, Any] | None, base: Path) -> Iterator[Event]:
    for f in files_of(s, base):
        start = 0
        if position is not None:
            if f.name < position["file"]:
                continue
            if f.name == position["file"]:
                start = int(position["offset"])
        with f.open("rb") as fh:
            fh.seek(start)
            for n, (line, offset) in enumerate(read_lines(fh, s.max_line_bytes, start), 1):
                where, pos = f"{f.name}@{offset}", {"file": f.name, "offset": offset}
                if line is None:
                    yield Event(where, b"", position=pos, error=f"{where}: line {n} is longer than "
                                                               f"{s.max_line_bytes} bytes")
                elif line.strip():
                    ev = from_json(line, fields, where, pos, since, until)
                    if ev is not None:
                        yield ev


def command(s: CommandSource, fields: Fields, since: datetime | None, until: datetime | None) -> Iterator[Event]:
    argv = s.run if isinstance(s.run, list) else shlex.split(s.run)
    env = {**os.environ, "REPLAY_SINCE": since.isoformat() if since else "",
           "REPLAY_UNTIL": until.isoformat() if until else ""}
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env=env)
    except OSError as e:
        raise CouldNotRun(f"cannot start the replay source command {argv[0]}: {e.strerror}") from None
    killer = threading.Timer(s.timeout, proc.kill)  # every wait has a deadline
    killer.daemon = True
    killer.start()
    try:
        assert proc.stdout is not None
        for n, (line, _) in enumerate(read_lines(proc.stdout, s.max_line_bytes), 1):
            where = f"line {n}"
            if line is None:
                yield Event(where, b"", error=f"{where} is longer than {s.max_line_bytes} bytes")
            elif line.strip():
                ev = from_json(line, fields, where, None, since, until)
                if ev is not None:
                    yield ev
        code = proc.wait(timeout=max(1.0, s.timeout))
        if code != 0:
            why = "was killed after its timeout" if not killer.is_alive() else f"exited {code}"
            raise CouldNotRun(f"the replay source command {why}")
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
