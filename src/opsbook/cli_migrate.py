"""`opsbook migrate sqlite-to-postgres`: the seed's SQLite -> PostgreSQL cutover, checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli_common import Ctx, common, err, out, record_run
from .config.load import Config
from .config.resources import PostgresResource
from .config.secrets import redact_url_password, redactor, reveal
from .errors import EXIT_FAILED, UsageError
from .render import jsondoc
from .render.migration import migration_markdown
from .results import utcnow


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
    from .migrate.plan import parse_casts
    from .migrate.run import Options, migrate

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
    started = utcnow()
    live = err.is_terminal and not ctx.json
    report = _with_progress(opts, migrate) if live else migrate(opts)
    doc = redactor.redact(json.loads(jsondoc.dumps(report.to_dict())))
    files = _write(report_path, doc)
    if cfg is not None:
        record_run(ctx, cfg, "migration", Path(source).name, report.ok, doc, started_at=started,
                   status=report.status)
    if ctx.json:
        ctx.emit(doc)
    else:
        _summary(doc, files)
    return 0 if report.ok else EXIT_FAILED


def _with_progress(opts: Any, migrate: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done, total=max(total, done, 1))

        return migrate(opts, progress=progress, event=lambda phase: bar.console.print(f"[dim]· {phase}[/]"))


def _write(report_dir: Path, doc: dict[str, Any]) -> list[Path]:
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --report-dir {report_dir}: {e.strerror}") from None
    stem = report_dir / f"migration-{doc['started_at'][:19].replace(':', '').replace('-', '')}"
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    md.write_text(redactor.text(migration_markdown(doc)))
    js.write_text(jsondoc.dumps(doc) + "\n")
    return [md, js]


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
