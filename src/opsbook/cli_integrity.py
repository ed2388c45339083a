"""``opsbook integrity run NAME`` and ``opsbook integrity list``.

The run is recorded in the store's ``runs`` table (kind ``integrity``) with the result
document as detail; the next run against the same target reads it back to say which
checks have new violations.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from . import app
from .cli_common import Ctx, common, err, out, record_run
from .config.load import Config
from .errors import OpsbookError, UsageError
from .results import utcnow
from .units import previous_integrity

KIND = "integrity"


@click.group("integrity")
def integrity_group() -> None:
    """Integrity suites: declarative set-based data checks (duplicates, orphans, NULLs...)."""


def _previous(ctx: Ctx, cfg: Config, name: str, target: str) -> dict[str, Any] | None:
    """The last recorded run of this suite against this target, in this environment."""
    try:
        store = app.open_store(cfg, ctx.store_override)
    except OpsbookError as e:
        err.print(f"warning: no history to compare with: {e.message}", markup=False)
        return None
    try:
        return previous_integrity(cfg, store, name, target)
    except Exception as e:  # an unreadable history must not stop the checks
        err.print(f"warning: no history to compare with: {type(e).__name__}", markup=False)
    finally:
        store.close()
    return None


@integrity_group.command("run")
@click.argument("name")
@click.option("--dsn", default=None, metavar="DSN", envvar="OPSBOOK_INTEGRITY_DSN",
              help="run against this PostgreSQL database instead of the suite's resource")
@click.option("--sqlite", "sqlite_path", default=None, metavar="FILE",
              help="run against this SQLite file (opened read-only)")
@click.option("--resource", default=None, metavar="NAME", help="run against another postgres/sqlite resource")
@click.option("--samples", type=click.IntRange(0, 1000), default=None,
              help="failing rows shown per check (default: the suite's sample_rows, 5)")
@click.option("--no-store", is_flag=True, help="do not record the run (and compare with nothing)")
@common
def integrity_run(ctx: Ctx, name: str, dsn: str | None, sqlite_path: str | None, resource: str | None,
                  samples: int | None, no_store: bool) -> int:
    """Run an integrity suite. Exit 1 if a check fails or errors, 0 with only warnings."""
    from .integrity import run_suite
    from .integrity.engine import resolve_target, suite_of

    if sum(x is not None for x in (dsn, sqlite_path, resource)) > 1:
        raise UsageError("give at most one of --dsn, --sqlite, --resource")
    cfg = ctx.config
    suite = suite_of(cfg, name)
    target = resolve_target(cfg, name, suite, dsn, sqlite_path, resource)
    previous = None if no_store else _previous(ctx, cfg, name, target.label)
    started = utcnow()
    try:
        result = asyncio.run(run_suite(cfg, name, dsn=dsn, sqlite_path=sqlite_path, previous=previous,
                                       resource=resource, samples=samples))
    except OpsbookError as e:
        if not no_store:
            record_run(ctx, cfg, KIND, name, False, {"schema": "opsbook.integrity/1", "suite": name,
                                                      "target": target.label, "ok": False,
                                                      "error": e.to_dict()},
                       started_at=started, status="error")
        raise
    statuses = {c.status for c in result.checks}
    worst = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    doc = result.to_dict()
    if not no_store:
        record_run(ctx, cfg, KIND, name, result.ok, doc, started_at=result.started_at, status=worst)
    if ctx.json:
        ctx.emit(doc)
    else:
        from .render.integrity import render_integrity

        render_integrity(out, result)
    return result.exit_code


@integrity_group.command("list")
@common
def integrity_list(ctx: Ctx) -> int:
    """List the integrity suites and their checks."""
    from rich.markup import escape
    from rich.table import Table

    cfg = ctx.config
    suites = getattr(cfg.model, "integrity", {}) or {}
    listed: dict[str, dict[str, Any]] = {}
    doc = {"schema": "opsbook.integrity-list/1", "suites": listed}
    for sname, suite in suites.items():
        checks = []
        for c in suite.checks:
            type_name, spec = c.type_and_spec()
            checks.append({"name": c.name, "type": type_name, "table": getattr(spec, "table", None),
                           "severity": spec.severity, "description": spec.description})
        listed[sname] = {"resource": suite.resource, "description": suite.description,
                                "sample_rows": suite.sample_rows, "checks": checks}
    if ctx.json:
        ctx.emit(doc)
        return 0
    if not suites:
        out.print("no integrity suites; add one under integrity: (see docs/integrity.md)")
        return 0
    for sname, s in listed.items():
        t = Table(title=f"{sname} · resource {s['resource'] or '-'}"
                  + (f" · {s['description']}" if s["description"] else ""), header_style="bold")
        for col in ("check", "type", "table", "severity"):
            t.add_column(col, no_wrap=col != "check")
        for c in s["checks"]:
            t.add_row(escape(c["name"]), c["type"], escape(c["table"] or "-"), c["severity"])
        out.print(t)
    return 0
