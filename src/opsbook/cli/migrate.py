"""`opsbook migrate sqlite-to-postgres`: the seed's SQLite -> PostgreSQL cutover, checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import EXIT_FAILED, UsageError
from .common import Ctx, common, err, out

if TYPE_CHECKING:
    from ..config.load import Config
    from ..migrate.load import Progress
    from ..migrate.run import Event
    from ..ops.migrate import MigrateRun


@click.group("migrate")
def migrate_group() -> None:
    """Move data between databases, audited and reconciled."""


def _config(ctx: Ctx) -> Config | None:
    # the command works without a config file; a --config that is given must load
    if ctx.config_path is None and not Path("opsbook.yaml").exists():
        return None
    return ctx.config


def _target(to: str, cfg: Config | None) -> tuple[str, str]:
    """(DSN, what to show): a raw DSN, or the name of a postgres resource in the config."""
    from ..config.resources import PostgresResource
    from ..config.secrets import redact_url_password, reveal

    if "://" in to or "=" in to:
        return to, redact_url_password(to)
    if cfg is None or to not in cfg.resources:
        raise UsageError(f"--to {to!r} is neither a PostgreSQL DSN nor a resource in the config",
                         hint="pass postgresql://user@host/db, or a postgres resource name with --config")
    res = cfg.resources[to]
    if not isinstance(res, PostgresResource):
        raise UsageError(f"resource {to!r} is not a postgres resource")
    dsn = reveal(res.dsn, f"resources.{to}.dsn")
    assert dsn is not None
    return dsn, f"resource {to}"


@migrate_group.command("sqlite-to-postgres")
@click.option("--from", "source", required=True, metavar="FILE", help="the SQLite database file (opened read-only)")
@click.option("--to", "to", required=True, metavar="DSN|RESOURCE",
              help="target PostgreSQL: a DSN or a postgres resource name from the config")
@click.option("--tables", default=None, metavar="A,B", help="only these tables (default: all)")
@click.option("--dry-run", is_flag=True, help="audit and print the plan (DDL, casts, order); load nothing")
@click.option("--reconcile-only", is_flag=True, help="compare source and target again; load nothing")
@click.option("--casts", multiple=True, metavar="TABLE.COLUMN=TYPE",
              help="override a column's PostgreSQL type (repeatable, or comma-separated)")
@click.option("--allow-lossy", is_flag=True,
              help="load values that would not cast as NULL (invalid UTF-8 as U+FFFD) instead of refusing")
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True,
              help="tables loaded and reconciled in parallel")
@click.option("--hash", "hashes", is_flag=True,
              help="reconcile text and bytea columns with an MD5-derived hash of every value too (slower)")
@click.option("--report-dir", default="migration-reports", show_default=True, metavar="DIR",
              help="where the Markdown + JSON report go")
@click.option("--snapshot-dir", default=None, metavar="DIR",
              help="where the source snapshot goes (default: --report-dir)")
@common
def sqlite_to_postgres(ctx: Ctx, source: str, to: str, tables: str | None, dry_run: bool, reconcile_only: bool,
                       casts: tuple[str, ...], allow_lossy: bool, jobs: int, hashes: bool, report_dir: str,
                       snapshot_dir: str | None) -> int:
    """Snapshot, audit, load with COPY (resumable), reconcile. Exit 1 on refusal or mismatch."""
    from ..migrate.plan import parse_casts
    from ..migrate.run import Options
    from ..ops import migrate
    from ..ops.record import Recorder

    if dry_run and reconcile_only:
        raise UsageError("--dry-run and --reconcile-only exclude each other")
    cfg = _config(ctx)
    dsn, label = _target(to, cfg)
    report_path = Path(report_dir)
    opts = Options(Path(source), dsn, label,
                   tables=[t.strip() for t in tables.split(",") if t.strip()] if tables else None,
                   casts=parse_casts(list(casts)), dry_run=dry_run, reconcile_only=reconcile_only,
                   allow_lossy=allow_lossy, jobs=jobs, hashes=hashes,
                   snapshot_dir=Path(snapshot_dir) if snapshot_dir else report_path)
    rec = ctx.recorder(cfg) if cfg is not None else Recorder.nowhere()
    live = err.is_terminal and not ctx.json
    if live:
        run = _with_progress(lambda progress, event: migrate.run(opts, report_path, rec, progress, event))
    else:
        run = migrate.run(opts, report_path, rec)
    if ctx.json:
        ctx.emit(run.to_dict())
    else:
        _summary(run.to_dict(), run.files)
    return 0 if run.ok else EXIT_FAILED


def _with_progress(go: Callable[[Progress, Event], MigrateRun]) -> MigrateRun:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done, total=max(total, done, 1))

        return go(progress, lambda phase: bar.console.print(f"[dim]· {phase}[/]"))


def _summary(doc: dict[str, Any], files: list[Path]) -> None:
    style = {"passed": "green", "planned": "green"}.get(doc["status"], "red")
    out.print(f"[{style}]{doc['status']}[/]: {doc['mode']} {doc['source']['path']} -> {doc['target']} "
              f"({doc['rows']} rows, {doc['duration_s']} s)", highlight=False)
    audit = doc.get("audit") or {}
    for p in audit.get("problems", []):
        ex = ", ".join(str(e.get("value", e.get("row"))) for e in p["examples"])
        out.print(f"  audit: {p['table']}.{p['column']}: {p['message']} (e.g. {ex})", markup=False)
    if doc["mode"] == "dry-run":
        for tp in doc["plan"]:
            for stmt in tp["ddl"]:
                out.print(f"  {stmt};", markup=False, soft_wrap=True)
    rec = doc.get("reconcile") or {}
    for m in rec.get("mismatches", []):
        out.print(f"  mismatch: {m['table']}.{m['column'] or '*'} {m['metric']}: source {m['source']} "
                  f"!= target {m['target']}", markup=False)
    for s in rec.get("sequences", []):
        if not s["ok"]:
            out.print(f"  sequence behind: {s['table']}.{s['column']}", markup=False)
    for f in rec.get("foreign_keys", []):
        if not f["ok"]:
            out.print(f"  foreign key not valid: {f['table']}({', '.join(f['columns'])}) -> {f['references']}"
                      f" ({f.get('orphans')} orphan rows)", markup=False)
    if doc.get("error"):
        out.print(f"  error: {doc['error']['message']}", markup=False)
    if doc.get("snapshot"):
        out.print(f"  snapshot: {doc['snapshot']}", markup=False)
    out.print(f"  report: {', '.join(str(f) for f in files)}", markup=False)
