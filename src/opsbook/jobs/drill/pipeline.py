"""A drill as a pipeline: fetch + restore, then the verification steps, then clean up (always).

``drill()`` takes plain values (the drill and backup models, the storage, the resources and the
services the steps call) and returns the DrillResult; ``run_drill`` in run.py resolves them from
a loaded Config.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from ...config.backups import Backup, Drill
from ...errors import CouldNotRun, OpsbookError, UsageError
from ..backup.catalog import read_catalog
from ..backup.cluster import ThrowawayCluster
from ..backup.fetch import workdir_for
from ..backup.manifest import Manifest
from ..backup.storage import Storage
from ..backup.tools import find
from ..backup.verify import identity_path
from .context import Clock, DrillContext, DrillServices, RestoredDb, Step
from .restore import (
    PgDatabase,
    SqliteDatabase,
    fetch_and_unpack,
    fetch_and_unpack_directory,
    pg_restore,
    scratch_database,
    scratch_name,
    sqlite_integrity_check,
)
from .result import DrillResult
from .steps import sqlite_integrity_check as integrity_check_step
from .steps import steps_for
from .target import cluster_info, ping, target_dsn

Restored = tuple[RestoredDb, list[Step]]  # the restored database, and the checks the restore made
Restore = AbstractContextManager[Restored]


def run_steps(ctx: DrillContext, steps: Sequence[Step]) -> None:
    """Run ``steps`` in order, each phase timed once for its run of steps. A step's ``stop`` or an
    exception skips the rest; what a phase opened (the database connection, the app) is closed
    when the phase ends."""
    for phase, group in groupby(steps, key=lambda s: s.phase):
        with ctx.clock.phase(phase), ExitStack() as closing:
            closing.callback(ctx.db.close)
            ctx.closing = closing
            for step in group:
                r = step.run(ctx)
                ctx.result.checks.extend(r.checks)
                ctx.result.tables.extend(r.tables)
                if r.stop:
                    return


@contextmanager
def restore_postgres(spec: Drill, backup: Backup, m: Manifest, storage: Storage, work: Path, ident: str | None,
                     admin: str, keep: bool, result: DrillResult, clock: Clock) -> Iterator[Restored]:
    """Fetch and unpack the dump, pg_restore it into a new scratch database; dropped afterwards
    unless the drill failed and ``keep``."""
    if m.directory:
        plain = work / "dump"  # format: directory: a local copy of the directory (pg_restore -j reads it)
        fetch_and_unpack_directory(storage, m, work, ident, plain, clock)
    else:
        plain = work / "dump.pgc"
        fetch_and_unpack(storage, m, work, ident, plain, clock)
    db = scratch_name(result.drill, datetime.now(UTC))
    result.scratch = db
    with scratch_database(admin, db, result, keep) as dsn:
        with clock.phase("restore"):
            pg_restore(find("pg_restore", spec.bin_dir or backup.bin_dir), dsn, plain, spec.jobs)
        if plain.is_dir():
            shutil.rmtree(plain, ignore_errors=True)
        else:
            plain.unlink(missing_ok=True)
        restored = PgDatabase(dsn)
        try:
            yield restored, []
        finally:
            restored.close()


@contextmanager
def restore_sqlite(m: Manifest, storage: Storage, work: Path, ident: str | None, result: DrillResult,
                   clock: Clock) -> Iterator[Restored]:
    """Fetch and unpack the file into the work directory (removed with it); its ``PRAGMA
    integrity_check`` is the restore, and the first verification."""
    restored = work / "restored.sqlite"
    result.scratch = "temporary SQLite file"
    fetch_and_unpack(storage, m, work, ident, restored, clock)
    with clock.phase("restore"):
        rows = sqlite_integrity_check(restored)
    db = SqliteDatabase(restored)
    try:
        yield db, [integrity_check_step(rows)]
    finally:
        db.close()


def verify_restored(restore: Restore, name: str, spec: Drill, m: Manifest, result: DrillResult, clock: Clock,
                    services: DrillServices, base_dir: Path, steps: Sequence[Step]) -> None:
    with restore as (db, first):
        ctx = DrillContext(name, spec, m, result, services, base_dir, db, clock)
        run_steps(ctx, [*first, *steps])


def drill(name: str, spec: Drill, backup: Backup, storage: Storage, services: DrillServices, *,
          resources: Mapping[str, Any], base_dir: Path, backup_id: str | None = None, keep: bool = False,
          identity: str | None = None, on_phase: Callable[[str], None] | None = None,
          steps: Sequence[Step] | None = None) -> DrillResult:
    """Restore a backup of ``spec.backup`` (the latest, or ``backup_id``) and verify it.

    ``steps`` default to what the drill's ``verify:`` and ``app:`` ask for (steps.steps_for).
    An OpsbookError of the restore or a step ends the run and is the result's ``error``
    (a UsageError is raised); the scratch database, work directory and cluster are always
    cleaned up (``keep``: a failed drill's scratch database or cluster is kept).
    """
    result = DrillResult(drill=name, backup=spec.backup, rto_target_s=spec.rto_target)
    clock = Clock(result, on_phase)
    catalog = read_catalog(storage, spec.backup)
    m = catalog.get(backup_id) if backup_id else catalog.latest()
    if m is None:
        raise CouldNotRun(f"no backups of {spec.backup} at {storage.location}",
                          hint=f"run `opsbook backup run {spec.backup}` first", retryable=False)
    result.backup_id, result.backup_created_at = m.id, m.created_at
    result.location, result.source_kind = storage.where(m.id), m.source_kind
    verify = steps_for(spec) if steps is None else steps
    cluster: ThrowawayCluster | None = None
    if m.source_kind == "postgres" and spec.cluster is not None:
        cluster = ThrowawayCluster(spec.cluster)
        result.cluster = {"bin_dir": "", "dir": "", "port": 0}
        try:
            admin = cluster.start()  # a cluster that cannot start is "could not run", before any fetch
        except BaseException:
            cluster.close(keep=keep)
            cluster_info(result, cluster, kept=keep)
            raise
        cluster_info(result, cluster, kept=False)
    else:
        admin = ""
        if m.source_kind == "postgres":
            assert spec.target is not None
            admin = target_dsn(spec.target, resources, name)
        if admin:
            ping(admin)  # an unreachable target is "could not run", before anything is fetched
    try:
        work = workdir_for()
        try:
            with identity_path(spec.identity, identity, f"drills.{name}.identity") as ident:
                restore: Restore = (
                    restore_postgres(spec, backup, m, storage, work, ident, admin, keep, result, clock)
                    if m.source_kind == "postgres" else restore_sqlite(m, storage, work, ident, result, clock))
                try:
                    verify_restored(restore, name, spec, m, result, clock, services, base_dir, verify)
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
                cluster_info(result, cluster, kept)
        result.finished_at = datetime.now(UTC)
    return result
