"""``opsbook integrity run NAME`` and ``opsbook integrity list``.

The run is recorded in the store's ``runs`` table (kind ``integrity``) with the result
document as detail; the next run against the same target reads it back to say which
checks have new violations (ops/integrity.py).
"""

from __future__ import annotations

from typing import Any

import click

from .common import Ctx, common, out


@click.group("integrity")
def integrity_group() -> None:
    """Integrity suites: declarative set-based data checks (duplicates, orphans, NULLs...)."""


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
    from ..errors import UsageError
    from ..ops import integrity

    if sum(x is not None for x in (dsn, sqlite_path, resource)) > 1:
        raise UsageError("give at most one of --dsn, --sqlite, --resource")
    cfg = ctx.config
    run = integrity.run(cfg, name, ctx.recorder(cfg, enabled=not no_store), dsn=dsn, sqlite_path=sqlite_path,
                        resource=resource, samples=samples)
    if ctx.json:
        ctx.emit(run.to_dict())
    else:
        from ..render.integrity import render_integrity

        render_integrity(out, run.result)
    return run.exit_code


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
