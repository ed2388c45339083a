"""``opsbook backup run|list|verify|prune`` and ``opsbook drill run`` (the work is in ops/backup.py, ops/drill.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, err

if TYPE_CHECKING:
    from ..jobs.backup.pipeline import Progress


@contextmanager
def _sigterm_is_interrupt() -> Iterator[None]:
    """A scheduler's SIGTERM unwinds like Ctrl-C, so partial objects are removed and the run recorded."""
    import signal

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
    from ..jobs.backup.pipeline import backup_spec
    from ..ops import backup
    from ..render.backup import render_backup

    cfg = ctx.config
    backup_spec(cfg, name)  # an unknown name is a usage error before any progress bar
    live = not ctx.json and err.is_terminal
    with _sigterm_is_interrupt(), _progress(live) as progress:
        run = backup.run(cfg, name, ctx.recorder(cfg), progress=progress)
    if ctx.json:
        ctx.emit(run.to_dict())
    else:
        render_backup(ctx.console, run.to_dict())
    return 0


@contextmanager
def _progress(live: bool) -> Iterator[Progress]:
    from ..jobs.backup.pipeline import Progress

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
    from ..jobs.backup.catalog import read_catalog
    from ..jobs.backup.pipeline import backup_spec
    from ..jobs.backup.storage import storage_for
    from ..render.backup import render_catalog

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
    from ..jobs.backup.verify import verify_backup
    from ..render.backup import render_verify

    result = verify_backup(ctx.config, name, backup_id, identity)
    doc = result.to_dict()
    if ctx.json:
        ctx.emit(doc)
    else:
        render_verify(ctx.console, doc)
    return 0 if result.ok else 1


@backup_group.command("prune")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="print the plan, delete nothing")
@common
def backup_prune(ctx: Ctx, name: str, dry_run: bool) -> int:
    """Apply keep: {last, daily, weekly, monthly}; never deletes the newest good or drill-verified backup."""
    from ..ops import backup
    from ..render.backup import render_prune

    cfg = ctx.config
    doc = backup.prune(cfg, name, ctx.recorder(cfg), dry_run=dry_run).to_dict()
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
    from pathlib import Path

    from ..ops import drill
    from ..render.backup import render_drill

    cfg = ctx.config
    live = not ctx.json and err.is_terminal

    def on_phase(phase: str) -> None:
        if live:
            err.print(f"  {phase}...", markup=False)

    with _sigterm_is_interrupt():
        run = drill.run(cfg, name, ctx.recorder(cfg), backup_id=backup_id, keep=keep, identity=identity,
                        on_phase=on_phase, report=not no_report,
                        report_override=Path(report_dir) if report_dir else None)
    doc = run.to_dict()
    if ctx.json:
        ctx.emit(doc)
    else:
        render_drill(ctx.console, doc)
        if doc.get("report"):
            ctx.console.print(f"  report: {doc['report']['markdown']}", markup=False)
    return 0 if run.ok else 1
