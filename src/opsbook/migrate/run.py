"""One migration run: snapshot -> audit -> (dry-run stops) -> load -> keys -> reconcile."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import OpsbookError, UsageError
from ..results import utcnow
from . import audit as audit_mod
from . import load, reconcile
from .pg import MigrationFailed, connect
from .plan import finalize, make_plan
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
        if mode == "migrate":
            with _phase(report, "snapshot"):
                say("snapshot")
                snap = take_snapshot(src_path, opts.snapshot_dir or src_path.parent)
                report.snapshot = str(snap)
        with _phase(report, "audit"):
            say("audit")
            result = audit_mod.run_audit(open_source, plans, pmap, with_fks=mode != "migrate")
            report.audit = result
            for tp in plans:
                finalize(tp, opts.allow_lossy)
                report.notes.extend(f"{tp.name}: {n}" for n in tp.notes)
        if result.problems and not opts.allow_lossy and mode != "reconcile-only":
            report.status = "refused"
            return report
        if opts.dry_run:
            report.status = "planned"
            return report
        if mode == "migrate":
            _load(opts, report, open_source, pmap, fp, progress, say)
        with _phase(report, "reconcile"):
            say("reconcile")
            report.reconcile = _reconcile(opts, report, open_source, pool)
        report.status = "passed" if report.reconcile.ok else "failed"
        return report
    except MigrationFailed as e:
        report.status = "failed"
        report.error = e.to_dict()
        return report
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        report.finished_at = utcnow()


def _load(opts: Options, report: MigrationReport, open_source: Callable[[], sqlite3.Connection],
          pmap: Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]], fp: str,
          progress: load.Progress | None, say: Event) -> None:
    plans = report.plans
    with _phase(report, "load"):
        say("load")
        status = load.prepare(opts.dsn, plans, fp)

        def one(tp: Any) -> load.TableLoad:
            if status.get(tp.name) == "done":  # loaded by an earlier, interrupted run
                if progress:
                    progress(tp.name, tp.rows, tp.rows)
                return load.TableLoad(tp.name, tp.rows, "skipped", 0.0)
            return load.load_table(opts.dsn, open_source, tp, progress)

        report.loads = pmap(one, plans)
    with _phase(report, "keys"):
        say("keys")
        pmap(lambda tp: load.build_keys(opts.dsn, tp), plans)
        for tp in plans:  # after every table's keys: a foreign key needs its parent's
            load.build_fks(opts.dsn, tp)
        load.reset_sequences(opts.dsn, plans)


def _reconcile(opts: Options, report: MigrationReport, open_source: Callable[[], sqlite3.Connection],
               pool: ThreadPoolExecutor) -> reconcile.ReconcileResult:
    out = reconcile.ReconcileResult()
    futures = []
    for tp in report.plans:  # both sides of every table at once; SQLite releases the GIL in C
        futures.append((tp, pool.submit(reconcile.target_side, opts.dsn, tp, opts.hashes),
                        pool.submit(reconcile.source_side, open_source, tp, opts.hashes)))
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
