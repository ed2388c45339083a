"""One migration run: snapshot beside the audit -> (dry-run stops) -> load (COPY, keys and target
aggregates per table) -> foreign keys -> reconcile."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import MigrationFailed, OpsbookError, UsageError
from ..results import utcnow
from . import audit as audit_mod
from . import load, reconcile
from .pg import connect
from .plan import TablePlan, finalize, make_plan
from .report import MigrationReport
from .snapshot import take_snapshot
from .source import connect_ro, dependency_order, fingerprint, read_tables
from .types import Target

T = TypeVar("T")
R = TypeVar("R")
Event = Callable[[str], None]


@dataclass
class Options:
    source: Path
    dsn: str
    target_label: str  # what reports show for the target (redacted DSN or resource name)
    tables: list[str] | None = None
    casts: dict[tuple[str, str], Target] | None = None
    dry_run: bool = False
    reconcile_only: bool = False
    allow_lossy: bool = False
    jobs: int = 2
    hashes: bool = False  # also an MD5-derived hash of every text/bytea column (slower)
    snapshot_dir: Path | None = None


@contextmanager
def _phase(report: MigrationReport, name: str) -> Iterator[None]:
    t0 = time.monotonic()
    try:
        yield
    finally:
        report.phases[name] = report.phases.get(name, 0.0) + time.monotonic() - t0


def migrate(opts: Options, progress: load.Progress | None = None, event: Event | None = None) -> MigrationReport:
    say = event or (lambda _: None)
    mode = "dry-run" if opts.dry_run else "reconcile-only" if opts.reconcile_only else "migrate"
    src_path = opts.source
    conn = connect_ro(src_path)
    report = MigrationReport(mode, {"path": str(src_path), "size_bytes": src_path.stat().st_size},
                             opts.target_label, utcnow())

    def open_source() -> sqlite3.Connection:
        c = connect_ro(src_path)
        reconcile.register(c)
        return c

    pool = ThreadPoolExecutor(max_workers=max(1, opts.jobs))
    snap_pool = ThreadPoolExecutor(max_workers=1)
    side_pool = ThreadPoolExecutor(max_workers=max(1, opts.jobs))  # SQLite-side reconcile during the load

    def pmap(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return list(pool.map(fn, items))

    try:
        tables, notes = read_tables(conn)
        fp = fingerprint(conn, src_path)
        conn.close()
        report.notes.extend(notes)
        if opts.tables:
            names = {t.name for t in tables}
            unknown = [n for n in opts.tables if n not in names]
            if unknown:
                raise UsageError(f"--tables names {', '.join(unknown)}, not in {src_path}",
                                 hint=f"tables: {', '.join(sorted(names)) or '(none)'}")
            tables = [t for t in tables if t.name in opts.tables]
        tables = dependency_order(tables)
        report.order = [t.name for t in tables]
        plans = make_plan(tables, opts.casts or {})
        report.plans = plans
        if not opts.dry_run:  # fail before the slow parts when the target is unreachable
            connect(opts.dsn).close()
        snap = None
        if mode == "migrate":
            # the snapshot (a copy of the file, mostly I/O) runs beside the audit; it only has
            # to exist before the target is written to
            say("snapshot")
            snap = snap_pool.submit(_timed, take_snapshot, src_path, opts.snapshot_dir or src_path.parent)
        with _phase(report, "audit"):
            say("audit")
            result = audit_mod.run_audit(open_source, plans, pmap, with_fks=mode != "migrate")
            report.audit = result
            for tp in plans:
                finalize(tp, opts.allow_lossy)
                report.notes.extend(f"{tp.name}: {n}" for n in tp.notes)
        if snap is not None:
            path, report.phases["snapshot"] = snap.result()
            report.snapshot = str(path)
        if result.problems and not opts.allow_lossy and mode != "reconcile-only":
            report.status = "refused"
            return report
        if opts.dry_run:
            report.status = "planned"
            return report
        sides: dict[str, tuple[Future[list[Any]], Future[list[Any]]]] = {}
        if mode == "migrate":
            sides = _load(opts, report, open_source, pool, side_pool, fp, progress, say)
        with _phase(report, "reconcile"):
            say("reconcile")
            report.reconcile = _reconcile(opts, report, open_source, pool, sides)
        report.status = "passed" if report.reconcile.ok else "failed"
        return report
    except MigrationFailed as e:
        report.status = "failed"
        report.error = e.to_dict()
        return report
    finally:
        snap_pool.shutdown(wait=True)
        side_pool.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)
        report.finished_at = utcnow()


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    t0 = time.monotonic()
    return fn(*args), time.monotonic() - t0


def _load(opts: Options, report: MigrationReport, open_source: Callable[[], sqlite3.Connection],
          pool: ThreadPoolExecutor, side_pool: ThreadPoolExecutor, fp: str, progress: load.Progress | None,
          say: Event) -> dict[str, tuple[Future[list[Any]], Future[list[Any]]]]:
    """Per table, on one worker: COPY, then its keys and its target-side reconcile aggregates
    (PostgreSQL's CPU) while ``side_pool`` computes its source-side aggregates (SQLite's, in
    this process); then every foreign key. Returns per table the (source, target) futures.

    A table's keys and aggregates need only that table, so they run while other tables are
    still loading instead of waiting for the slowest load: no core idles at the end of a phase.
    """
    plans = report.plans
    sides: dict[str, tuple[Future[list[Any]], Future[list[Any]]]] = {}
    with _phase(report, "load"):
        say("load")
        status = load.prepare(opts.dsn, plans, fp)

        def one(tp: TablePlan) -> load.TableLoad:
            if status.get(tp.name) == "done":  # loaded by an earlier, interrupted run
                if progress:
                    progress(tp.name, tp.rows, tp.rows)
                done = load.TableLoad(tp.name, tp.rows, "skipped", 0.0)
            else:
                done = load.load_table(opts.dsn, open_source, tp, progress)
            src = side_pool.submit(reconcile.source_side, open_source, tp, opts.hashes)
            load.build_keys(opts.dsn, tp)
            # read after the keys: building a primary key locks the table against readers
            sides[tp.name] = (src, _done(reconcile.target_side, opts.dsn, tp, opts.hashes))
            return done

        report.loads = list(pool.map(one, plans))
    with _phase(report, "keys"):
        say("keys")
        todo = load.add_fks(opts.dsn, plans)  # needs every table's keys: a foreign key needs its parent's
        list(pool.map(lambda item: load.validate_fks(opts.dsn, *item), todo.items()))
        load.reset_sequences(opts.dsn, plans)
    return sides


def _done(fn: Callable[..., R], *args: Any) -> Future[R]:
    """``fn(*args)`` run now, as a finished future: a failure is raised where it is read."""
    f: Future[R] = Future()
    try:
        f.set_result(fn(*args))
    except Exception as e:  # reported by _reconcile, in its words
        f.set_exception(e)
    return f


def _reconcile(opts: Options, report: MigrationReport, open_source: Callable[[], sqlite3.Connection],
               pool: ThreadPoolExecutor,
               sides: dict[str, tuple[Future[list[Any]], Future[list[Any]]]]) -> reconcile.ReconcileResult:
    out = reconcile.ReconcileResult()
    futures = []
    for tp in report.plans:  # both sides of every table at once; SQLite releases the GIL in C
        if tp.name in sides:  # computed during the load
            src, tgt = sides[tp.name]
        else:
            tgt = pool.submit(reconcile.target_side, opts.dsn, tp, opts.hashes)
            src = pool.submit(reconcile.source_side, open_source, tp, opts.hashes)
        futures.append((tp, tgt, src))
    for tp, tgt, src in futures:
        try:
            t_row = tgt.result()
        except OpsbookError:
            raise
        except Exception as e:  # the table is missing or unreadable in the target
            raise MigrationFailed(f"cannot read {tp.name} in the target: {e}".strip(),
                                  hint="was the migration run into this database?") from None
        check, bad = reconcile.compare(tp, src.result(), t_row, opts.hashes)
        out.tables.append(check)
        out.mismatches.extend(bad)
    out.sequences = reconcile.check_sequences(opts.dsn, report.plans)
    out.foreign_keys = reconcile.check_fks(opts.dsn, report.plans)
    return out
