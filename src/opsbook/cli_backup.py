"""``opsbook backup run|list|verify|prune`` and ``opsbook drill run``."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from . import app
from .cli_common import Ctx, common, err, record_run
from .config.load import Config
from .errors import OpsbookError, UsageError
from .render.backup import (
    render_backup,
    render_catalog,
    render_drill,
    render_prune,
    render_verify,
    write_drill_report,
)


@contextmanager
def _sigterm_is_interrupt() -> Any:
    """A scheduler's SIGTERM unwinds like Ctrl-C, so partial objects are removed and the run recorded."""
    def raise_interrupt(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@click.group("backup")
def backup_group() -> None:
    """Encrypted, atomic backups of PostgreSQL and SQLite (see docs/backups.md)."""


@backup_group.command("run")
@click.argument("name")
@common
def backup_run(ctx: Ctx, name: str) -> int:
    """Dump NAME's source, compress, encrypt and store it; the manifest is written last."""
    from .jobs.backup.pipeline import backup_spec, run_backup

    cfg = ctx.config
    backup_spec(cfg, name)
    started = datetime.now(UTC)
    live = not ctx.json and err.is_terminal
    try:
        with _sigterm_is_interrupt(), _progress(live) as progress:
            result = run_backup(cfg, name, progress)
    except (OpsbookError, KeyboardInterrupt) as e:
        error = e.to_dict() if isinstance(e, OpsbookError) else {"type": "Interrupted", "message": "interrupted",
                                                                   "hint": "", "retryable": True}
        record_run(ctx, cfg, "backup", name, False, {"schema": "opsbook.backup/1", "ok": False, "name": name,
                                                     "error": error}, started_at=started, status="error")
        raise
    doc = result.to_dict()
    record_run(ctx, cfg, "backup", name, True, doc, started_at=started)
    if ctx.json:
        ctx.emit(doc)
    else:
        render_backup(ctx.console, doc)
    return 0


@contextmanager
def _progress(live: bool) -> Any:
    from .jobs.backup.pipeline import Progress

    if not live:
        yield Progress()
        return
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
             console=err, transient=True) as bar:
        written = bar.add_task("stored (compressed)", total=None)
        with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
                 transient=True) as tbar:
            tables = tbar.add_task("row counts", total=None)
            yield Progress(on_bytes=lambda n: bar.update(written, completed=n),
                           on_tables=lambda done, total: tbar.update(tables, completed=done, total=total))


@backup_group.command("list")
@click.argument("name")
@common
def backup_list(ctx: Ctx, name: str) -> int:
    """List NAME's backups, read from the destination itself."""
    from .jobs.backup.catalog import read_catalog
    from .jobs.backup.pipeline import backup_spec
    from .jobs.backup.storage import storage_for

    backup_spec(ctx.config, name)
    doc = read_catalog(storage_for(ctx.config, name), name).to_dict()
    if ctx.json:
        ctx.emit(doc)
    else:
        render_catalog(ctx.console, doc)
    return 0


@backup_group.command("verify")
@click.argument("name")
@click.argument("backup_id", required=False)
@click.option("--identity", "identity", default=None, metavar="FILE", help="age identity file to decrypt with")
@common
def backup_verify(ctx: Ctx, name: str, backup_id: str | None, identity: str | None) -> int:
    """Check a backup (default: the latest): sha256 and size, decryption, pg_restore --list."""
    from .jobs.backup.verify import verify_backup

    result = verify_backup(ctx.config, name, backup_id, identity)
    doc = result.to_dict()
    if ctx.json:
        ctx.emit(doc)
    else:
        render_verify(ctx.console, doc)
    return 0 if result.ok else 1


def _verified_ids(ctx: Ctx, cfg: Config, backup: str) -> set[str]:
    """Backup ids that a passing drill restored, from the store."""
    from .jobs.backup.prune import verified_ids

    try:
        store = app.open_store(cfg, ctx.store_override)
    except OpsbookError as e:
        err.print(f"warning: cannot read drill runs ({e.message}); only the newest backup is protected",
                  markup=False)
        return set()
    with store:
        return verified_ids(store, backup)


@backup_group.command("prune")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="print the plan, delete nothing")
@common
def backup_prune(ctx: Ctx, name: str, dry_run: bool) -> int:
    """Apply keep: {last, daily, weekly, monthly}; never deletes the newest good or drill-verified backup."""
    from .jobs.backup.pipeline import backup_spec
    from .jobs.backup.prune import prune

    cfg = ctx.config
    spec = backup_spec(cfg, name)
    if spec.keep is None:
        raise UsageError(f"backups.{name} has no keep: policy",
                         hint="add keep: {last: 7, daily: 7, weekly: 4, monthly: 12}")
    doc = prune(cfg, name, _verified_ids(ctx, cfg, name), datetime.now(UTC), dry_run)
    if not dry_run:
        record_run(ctx, cfg, "backup-prune", name, True, doc)
    if ctx.json:
        ctx.emit(doc)
    else:
        render_prune(ctx.console, doc)
    return 0


@click.group("drill")
def drill_group() -> None:
    """Restore drills: restore a backup into a scratch database and prove it (see docs/drills.md)."""


@drill_group.command("run")
@click.argument("name")
@click.option("--backup", "backup_id", default=None, metavar="ID", help="restore this backup (default: the latest)")
@click.option("--keep", is_flag=True, help="keep the scratch database (or throwaway cluster) when the drill fails")
@click.option("--identity", "identity", default=None, metavar="FILE", help="age identity file to decrypt with")
@click.option("--report-dir", "report_dir", default=None, metavar="DIR",
              help="where to write the Markdown and JSON report (default: the drill's report_dir:)")
@click.option("--no-report", is_flag=True, help="do not write report files")
@common
def drill_run(ctx: Ctx, name: str, backup_id: str | None, keep: bool, identity: str | None,
              report_dir: str | None, no_report: bool) -> int:
    """Fetch, decrypt, restore and verify a backup; write the drill report. Exit 1 if any check fails."""
    from .jobs.drill import drill_spec, run_drill

    cfg = ctx.config
    spec, _ = drill_spec(cfg, name)
    started = datetime.now(UTC)
    live = not ctx.json and err.is_terminal

    def on_phase(phase: str) -> None:
        if live:
            err.print(f"  {phase}...", markup=False)

    try:
        with _sigterm_is_interrupt():
            result = run_drill(cfg, name, backup_id, keep, identity, on_phase)
    except OpsbookError as e:
        record_run(ctx, cfg, "drill", name, False, {"schema": "opsbook.drill/1", "ok": False, "drill": name,
                                                    "backup": spec.backup, "error": e.to_dict()},
                   started_at=started, status="error")
        raise
    doc = result.to_dict()
    if not no_report:
        doc["report"] = _write_report(cfg, Path(report_dir) if report_dir else None, spec.report_dir, name, doc)
    record_run(ctx, cfg, "drill", name, result.ok, doc, started_at=started)
    if ctx.json:
        ctx.emit(doc)
    else:
        render_drill(ctx.console, doc)
        if doc.get("report"):
            ctx.console.print(f"  report: {doc['report']['markdown']}", markup=False)
    return 0 if result.ok else 1


def _write_report(cfg: Config, override: Path | None, configured: str, name: str,
                  doc: dict[str, Any]) -> dict[str, str]:
    d = override or Path(configured).expanduser()
    return write_drill_report(d if d.is_absolute() else (Path.cwd() if override else cfg.base_dir) / d, name, doc)
