"""``opsbook drill run``: prove a backup restores to exactly the data that was dumped.

fetch (size + sha256) -> decrypt + decompress -> restore into a scratch database (or a temp
SQLite file) -> verify against the manifest's snapshot (row counts, max primary key),
freshness, SQL checks, an integrity suite, app readiness -> drop the scratch database.
Every phase is timed; their sum is the measured RTO.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..checks._sql import rows_observations
from ..config.backups import Backup, Drill, SqlCheck
from ..config.load import Config
from ..config.secrets import SecretRef, redactor, reveal
from ..errors import BackupFailed, CouldNotRun, OpsbookError, UsageError
from .backup.catalog import read_catalog
from .backup.cluster import ThrowawayCluster
from .backup.fetch import dump_file_path, fetch, to_file, unpack, workdir_for
from .backup.manifest import Manifest
from .backup.sqlite_source import sqlite_tables
from .backup.storage import storage_for
from .backup.tools import find, libpq_args, stderr_tail, with_dbname
from .backup.verify import identity_path

SCHEMA = "opsbook.drill/1"


@dataclass
class TableCount:
    table: str
    expected: int
    actual: int | None
    expected_max_pk: str | None = None
    actual_max_pk: str | None = None

    @property
    def ok(self) -> bool:
        return self.actual == self.expected and self.actual_max_pk == self.expected_max_pk

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "ok": self.ok, "expected": self.expected, "actual": self.actual,
                "expected_max_pk": self.expected_max_pk, "actual_max_pk": self.actual_max_pk}


@dataclass
class Verification:
    name: str
    ok: bool
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "summary": self.summary, "detail": self.detail}


@dataclass
class DrillResult:
    drill: str
    backup: str
    backup_id: str = ""
    backup_created_at: str = ""
    location: str = ""
    source_kind: str = ""
    scratch: str = ""  # database name or file; never a DSN
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    phases_ms: dict[str, float] = field(default_factory=dict)
    rto_target_s: float | None = None
    tables: list[TableCount] = field(default_factory=list)
    checks: list[Verification] = field(default_factory=list)
    kept: bool = False
    error: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None  # cluster: drills: bin_dir, dir, port, kept

    @property
    def rto_s(self) -> float:
        return round(sum(self.phases_ms.values()) / 1000, 3)

    @property
    def rto_ok(self) -> bool:
        return self.rto_target_s is None or self.rto_s <= self.rto_target_s

    @property
    def ok(self) -> bool:
        return (self.error is None and bool(self.phases_ms.get("restore") is not None)
                and all(c.ok for c in self.checks) and self.rto_ok)

    def issues(self) -> list[str]:
        out = [f"{c.name}: {c.summary}" for c in self.checks if not c.ok]
        if not self.rto_ok:
            out.append(f"RTO {self.rto_s:.1f}s exceeds the target {self.rto_target_s:g}s")
        if self.error:
            out.append(str(self.error.get("message")))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "ok": self.ok, "drill": self.drill, "backup": self.backup,
            "backup_id": self.backup_id, "backup_created_at": self.backup_created_at,
            "location": self.location, "source_kind": self.source_kind, "scratch": self.scratch,
            "kept": self.kept, "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "phases_ms": self.phases_ms, "rto_s": self.rto_s, "rto_target_s": self.rto_target_s,
            "rto_ok": self.rto_ok, "tables": [t.to_dict() for t in self.tables],
            "checks": [c.to_dict() for c in self.checks], "issues": self.issues(), "error": self.error,
            **({"cluster": self.cluster} if self.cluster is not None else {}),
        }


class _Clock:
    def __init__(self, result: DrillResult, on_phase: Callable[[str], None] | None) -> None:
        self.result, self.on_phase = result, on_phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.on_phase:
            self.on_phase(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:  # a phase entered again (one object at a time) adds up
            took = (time.perf_counter() - t0) * 1000
            self.result.phases_ms[name] = round(self.result.phases_ms.get(name, 0.0) + took, 1)


def drill_spec(config: Config, name: str) -> tuple[Drill, Backup]:
    drills: dict[str, Drill] = config.model.drills
    if name not in drills:
        raise UsageError(f"no drill named {name!r}", hint=f"defined: {', '.join(drills) or '(none)'}")
    d = drills[name]
    return d, config.model.backups[d.backup]


def _target_dsn(config: Config, name: str, d: Drill) -> str:
    t = d.target
    assert t is not None
    if t.resource is not None:
        return reveal(config.resources[t.resource].dsn, f"resources.{t.resource}.dsn") or ""  # type: ignore[union-attr]
    ref = SecretRef(env=t.env) if t.env else SecretRef(file=t.file)
    return ref.resolve(f"drills.{name}.target")


def scratch_name(drill: str, at: datetime) -> str:
    safe = re.sub(r"[^a-z0-9_]", "_", drill.lower())[:30]
    return f"drill_{safe}_{at:%Y%m%d_%H%M%S}"


def run_drill(config: Config, name: str, backup_id: str | None = None, keep: bool = False,
              identity: str | None = None, on_phase: Callable[[str], None] | None = None) -> DrillResult:
    d, b = drill_spec(config, name)
    result = DrillResult(drill=name, backup=d.backup, rto_target_s=d.rto_target)
    clock = _Clock(result, on_phase)
    storage = storage_for(config, d.backup)
    catalog = read_catalog(storage, d.backup)
    m = catalog.get(backup_id) if backup_id else catalog.latest()
    if m is None:
        raise CouldNotRun(f"no backups of {d.backup} at {storage.location}",
                          hint=f"run `opsbook backup run {d.backup}` first", retryable=False)
    result.backup_id, result.backup_created_at = m.id, m.created_at
    result.location, result.source_kind = storage.where(m.id), m.source_kind
    cluster: ThrowawayCluster | None = None
    if m.source_kind == "postgres" and d.cluster is not None:
        cluster = ThrowawayCluster(d.cluster)
        result.cluster = {"bin_dir": "", "dir": "", "port": 0}
        try:
            admin = cluster.start()  # a cluster that cannot start is "could not run", before any fetch
        except BaseException:
            cluster.close(keep=keep)
            _cluster_info(result, cluster, kept=keep)
            raise
        _cluster_info(result, cluster, kept=False)
    else:
        admin = _target_dsn(config, name, d) if m.source_kind == "postgres" else ""
        if admin:
            _ping(admin)  # an unreachable target is "could not run", before anything is fetched
    try:
        work = workdir_for()
        try:
            with identity_path(d.identity, identity, f"drills.{name}.identity") as ident:
                try:
                    if m.source_kind == "postgres":
                        _drill_pg(config, d, b, m, storage, work, ident, admin, keep, result, clock)
                    else:
                        _drill_sqlite(config, d, m, storage, work, ident, result, clock)
                except OpsbookError as e:
                    if isinstance(e, UsageError):
                        raise
                    result.error = e.to_dict()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if cluster is not None:
            kept = keep and not result.ok
            try:
                cluster.close(keep=kept)
            finally:
                _cluster_info(result, cluster, kept)
        result.finished_at = datetime.now(UTC)
    return result


def _cluster_info(result: DrillResult, cluster: ThrowawayCluster, kept: bool) -> None:
    where = str(cluster.dir or "")
    result.cluster = {"bin_dir": cluster.bin_dir, "dir": where, "port": cluster.port, "kept": kept}
    db = result.scratch or "no database"
    if kept:
        result.kept = True
        result.scratch = (f"{db} in the throwaway cluster {where} (stopped; start it with "
                          f"pg_ctl -D {where}/data -o '-p {cluster.port} -k {where}' start)")
    elif result.scratch and "throwaway cluster" not in result.scratch:
        result.scratch = f"{db} in a throwaway cluster (removed)"


def _ping(admin: str) -> None:
    try:
        psycopg.connect(admin, connect_timeout=10, autocommit=True).close()
    except psycopg.OperationalError as e:
        raise CouldNotRun(f"cannot connect to the drill target: {redactor.text(str(e).strip())}",
                          hint="is the target server up, and target: right?") from None


def _fetch_and_unpack_directory(storage: Any, m: Manifest, work: Path, ident: str | None, dest: Path,
                                clock: _Clock) -> None:
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


def _fetch_and_unpack(storage: Any, m: Manifest, work: Path, ident: str | None, dest: Path,
                      clock: _Clock) -> None:
    obj = m.objects[0]
    with clock.phase("fetch"):
        path = fetch(storage, m, obj, work)
    with clock.phase("decrypt_decompress"):
        unpack(path, obj, m, ident, to_file(dest))
    if path.parent == work:
        path.unlink(missing_ok=True)  # the downloaded ciphertext is no longer needed


def _drill_pg(config: Config, d: Drill, b: Backup, m: Manifest, storage: Any, work: Path, ident: str | None,
              admin: str, keep: bool, result: DrillResult, clock: _Clock) -> None:
    if m.directory:
        plain = work / "dump"  # format: directory: a local copy of the directory (pg_restore -j reads it)
        _fetch_and_unpack_directory(storage, m, work, ident, plain, clock)
    else:
        plain = work / "dump.pgc"
        _fetch_and_unpack(storage, m, work, ident, plain, clock)
    db = scratch_name(result.drill, datetime.now(UTC))
    result.scratch = db
    dsn = with_dbname(admin, db)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    failed = True
    try:
        with clock.phase("restore"):
            _pg_restore(find("pg_restore", d.bin_dir or b.bin_dir), dsn, plain, d.jobs)
        if plain.is_dir():
            shutil.rmtree(plain, ignore_errors=True)
        else:
            plain.unlink(missing_ok=True)
        with clock.phase("verify"), psycopg.connect(dsn, autocommit=True) as conn:
            _verify_pg(conn, d, m, result)
            if d.verify.integrity:
                _integrity(config, d.verify.integrity, result, dsn=dsn)
        if d.app is not None:
            with clock.phase("app_ready"):
                _app(config, d, dsn, result)
        failed = not result.ok
    finally:
        if failed and keep:
            result.kept = True
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def _pg_restore(pg_restore: str, dsn: str, dump: Path, jobs: int) -> None:
    conninfo, env = libpq_args(dsn)
    argv = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--jobs={jobs}",
            "--no-password", "--dbname", conninfo, str(dump)]
    with tempfile.TemporaryFile() as err:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env).returncode
        if rc != 0:
            err.seek(0)
            raise BackupFailed(f"pg_restore exited with status {rc}: {redactor.text(stderr_tail(err.read()))}",
                               hint="rerun with --keep to inspect the scratch database")


def _resolve_tables(m: Manifest, wanted: Any) -> tuple[list[str], list[str]]:
    if wanted == "all":
        return sorted(m.tables), []
    found, unknown = [], []
    for w in wanted:
        hits = [w] if w in m.tables else [t for t in m.tables if t.split(".", 1)[-1] == w]
        if len(hits) == 1:
            found.append(hits[0])
        else:
            unknown.append(w)
    return found, unknown


def _verify_pg(conn: psycopg.Connection, d: Drill, m: Manifest, result: DrillResult) -> None:
    def count(table: str) -> tuple[int | None, str | None]:
        schema, _, name = table.partition(".")
        snap = m.tables[table]
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

    _row_counts(d, m, result, count)
    if d.verify.freshness is not None:
        f = d.verify.freshness
        schema, _, table = f.table.rpartition(".")
        ident = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        try:
            row = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(f.column), ident)).fetchone()
            newest = row[0] if row else None
        except psycopg.Error as e:
            newest, result.checks = None, [*result.checks, Verification("freshness", False, str(e).strip())]
            return _sql_checks_pg(conn, d.verify.sql, result)
        result.checks.append(_freshness(f.table, f.column, f.max_age, newest, m))
    _sql_checks_pg(conn, d.verify.sql, result)


def _row_counts(d: Drill, m: Manifest, result: DrillResult,
                count: Callable[[str], tuple[int | None, str | None]]) -> None:
    tables, unknown = _resolve_tables(m, d.verify.row_counts)
    for t in tables:
        snap = m.tables[t]
        actual, max_pk = count(t)
        expected = snap.rows if snap.data else 0
        result.tables.append(TableCount(t, expected, actual, snap.max_pk if snap.data else None,
                                        max_pk if snap.data else None))
    bad = [c for c in result.tables if not c.ok]
    summary = (f"{len(tables)} tables match the snapshot" if not bad and not unknown else
               "; ".join([f"{c.table}: expected {c.expected} rows, found "
                          f"{'no table' if c.actual is None else c.actual}"
                          + ("" if c.actual != c.expected else f" (max pk {c.actual_max_pk} != {c.expected_max_pk})")
                          for c in bad] + [f"{u}: not in the backup's snapshot" for u in unknown]))
    result.checks.append(Verification("row_counts", not bad and not unknown, summary,
                                      {"mismatched": [c.table for c in bad], "unknown": unknown}))


def _freshness(table: str, column: str, max_age: float, newest: Any, m: Manifest) -> Verification:
    if newest is None:
        return Verification("freshness", False, f"{table}.{column} has no values")
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    if isinstance(newest, datetime) and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)  # a timestamp without zone is taken as UTC
    if not isinstance(newest, datetime):
        return Verification("freshness", False, f"{table}.{column} is not a timestamp ({type(newest).__name__})")
    age = (m.created - newest).total_seconds()
    ok = age <= max_age
    return Verification("freshness", ok,
                        f"newest {table}.{column} is {age / 3600:.1f}h older than the backup "
                        f"({'within' if ok else 'beyond'} {max_age / 3600:g}h)",
                        {"newest": newest.isoformat(), "age_s": round(age, 1), "max_age_s": max_age})


def _judge(check: SqlCheck, obs: dict[str, Any]) -> Verification:
    outcomes = [a.evaluate(obs) for a in check.expect]
    ok = all(o.ok for o in outcomes)
    summary = ", ".join(f"{o.expr} ({'ok' if o.ok else f'actual {o.actual!r}'})" for o in outcomes)
    return Verification(f"sql:{check.name}", ok, summary, {"value": obs.get("value")})


def _sql_checks_pg(conn: psycopg.Connection, checks: list[SqlCheck], result: DrillResult) -> None:
    for c in checks:
        try:
            cur = conn.execute(c.query)
            rows = cur.fetchall() if cur.description else []
            cols = [d.name for d in cur.description or []]
            result.checks.append(_judge(c, rows_observations(cols, rows, len(rows))))
        except psycopg.Error as e:
            result.checks.append(Verification(f"sql:{c.name}", False, f"query failed: {str(e).strip()}"))


def _integrity(config: Config, suite: str, result: DrillResult, dsn: str | None = None,
               sqlite_path: str | None = None) -> None:
    from ..integrity import run_suite

    r = asyncio.run(run_suite(config, suite, dsn=dsn, sqlite_path=sqlite_path))
    counts = r.counts
    result.checks.append(Verification(f"integrity:{suite}", r.ok,
                                      ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no checks",
                                      {"result": r.to_dict()}))


def _app(config: Config, d: Drill, target: str, result: DrillResult) -> None:
    """Start the app against the restored database and run its readiness checks or smoke suite."""
    from ..checks.registry import KINDS
    from ..runner import run_checks
    from ..smoke import run_smoke

    app = d.app
    assert app is not None
    env = {**os.environ, app.env_var: target}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(app.command, shell=True, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=config.base_dir)
        try:
            deadline = time.monotonic() + app.timeout
            summary, ok = "", False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    log.seek(0)
                    summary = f"the app exited with status {proc.returncode}: {stderr_tail(log.read(), 300)}"
                    break
                if app.ready:
                    rs = asyncio.run(run_checks(config, KINDS, app.ready))
                    waiting = [r for r in rs if not r.ok]
                    if waiting:
                        summary = f"{waiting[0].name}: {waiting[0].summary}"
                        time.sleep(0.5)
                        continue
                ok = True
                summary = f"ready: {', '.join(app.ready)}" if app.ready else "started"
                break
            else:
                summary = f"not ready within {app.timeout:g}s; last: {summary}"
            result.checks.append(Verification("app:ready", ok, redactor.text(summary)))
            if ok and app.smoke:
                s = asyncio.run(run_smoke(config, app.smoke, app.base_url))
                result.checks.append(Verification(f"app:smoke:{app.smoke}", s.ok,
                                                  f"smoke suite {app.smoke}: {'passed' if s.ok else 'failed'}",
                                                  {"result": s.to_dict()}))
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                # ProcessLookupError: the group is gone already (the app exited by itself)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _drill_sqlite(config: Config, d: Drill, m: Manifest, storage: Any, work: Path, ident: str | None,
                  result: DrillResult, clock: _Clock) -> None:
    restored = work / "restored.sqlite"
    result.scratch = "temporary SQLite file"
    _fetch_and_unpack(storage, m, work, ident, restored, clock)
    with clock.phase("restore"):
        try:
            conn = sqlite3.connect(restored)
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as e:
            raise BackupFailed(f"the restored file is not a SQLite database: {e}") from None
    try:
        result.checks.append(Verification("integrity_check", rows == [("ok",)],
                                          "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows[:5])))
        with clock.phase("verify"):
            actual = sqlite_tables(conn)

            def count(t: str) -> tuple[int | None, str | None]:
                a = actual.get(t)
                return (a.rows, a.max_pk) if a else (None, None)

            _row_counts(d, m, result, count)
            if d.verify.freshness is not None:
                f = d.verify.freshness
                try:
                    row = conn.execute(f'SELECT max("{f.column}") FROM "{f.table}"').fetchone()
                    result.checks.append(_freshness(f.table, f.column, f.max_age, row[0] if row else None, m))
                except sqlite3.Error as e:
                    result.checks.append(Verification("freshness", False, str(e)))
            for c in d.verify.sql:
                try:
                    cur = conn.execute(c.query)
                    rws = cur.fetchall()
                    cols = [x[0] for x in cur.description or []]
                    result.checks.append(_judge(c, rows_observations(cols, rws, len(rws))))
                except sqlite3.Error as e:
                    result.checks.append(Verification(f"sql:{c.name}", False, f"query failed: {e}"))
            if d.verify.integrity:
                _integrity(config, d.verify.integrity, result, sqlite_path=str(restored))
    finally:
        conn.close()
    if d.app is not None:
        with clock.phase("app_ready"):
            _app(config, d, str(restored), result)
