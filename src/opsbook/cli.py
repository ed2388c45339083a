"""The command line: a thin layer over app.py. Every command takes --config, --env, --json.

Exit codes (errors.py): 0 passed, 1 something checked failed, 2 usage/config error,
3 could not run. Expected errors print a message and a hint, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__, app
from .cli_common import Ctx, common, err, out, record_run
from .config.load import dump_redacted
from .config.secrets import inline_secret_problems, redactor
from .durations import parse_duration
from .errors import EXIT_COULD_NOT_RUN, EXIT_USAGE, ConfigErrors, UsageError
from .fsmode import private_umask
from .render import jsondoc
from .render.table import render_results, status_text
from .results import CheckResult, overall_exit


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opsbook")
def cli() -> None:
    """opsbook: runbooks that run. Checks, gates, backups, drills, SLOs and alerts from one YAML file.

    Exit codes: 0 passed, 1 something checked failed, 2 usage or config error, 3 could not run.
    """


# -- config ------------------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Validate and show the config."""


@config_group.command("validate")
@click.option("--strict", is_flag=True, help="an inline secret is an error (exit 2), not a warning")
@common
def config_validate(ctx: Ctx, strict: bool) -> int:
    """Check the config file: keys, types, assertions, references. Exit 2 on any problem."""
    cfg = ctx.config
    warnings = inline_secret_problems(cfg)
    if strict and warnings:
        raise ConfigErrors(warnings)
    summary = {
        "schema": "opsbook.config-validate/1",
        "ok": True,
        "file": str(cfg.path),
        "env": cfg.env,
        "checks": len(cfg.checks),
        "resources": len(cfg.resources),
        "smoke": len(cfg.smoke),
        "warnings": [w.to_dict() for w in warnings],
    }
    for w in warnings:
        err.print(f"warning: {w.message}", markup=False, style="yellow", soft_wrap=True)
    if ctx.json:
        ctx.emit(summary)
    else:
        out.print(f"[green]✓[/] {cfg.path} is valid (env: {cfg.env or 'none'}): "
                  f"{len(cfg.checks)} checks, {len(cfg.resources)} resources, {len(cfg.smoke)} smoke suites"
                  + (f", {len(warnings)} warning(s)" if warnings else ""))
    return 0


@config_group.command("show")
@common
def config_show(ctx: Ctx) -> int:
    """Print the effective config (environment applied), secrets shown only as references."""
    cfg = ctx.config
    data = dump_redacted(cfg.model)
    if ctx.json:
        ctx.emit({"schema": "opsbook.config/1", "env": cfg.env, "config": data})
    else:
        import yaml

        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), markup=False, end="")
    return 0


@cli.command("init")
@click.option("--path", "path", default="opsbook.yaml", show_default=True, help="where to write")
@click.option("--force", is_flag=True, help="overwrite an existing file")
@common
def init_cmd(ctx: Ctx, path: str, force: bool) -> int:
    """Write a commented starter opsbook.yaml, pre-filled from DATABASE_URL, REDIS_URL and friends."""
    from .starter import starter_config

    p = Path(path)
    if p.exists() and not force:
        raise UsageError(f"{p} already exists", hint="pass --force to overwrite, or --path to write elsewhere")
    text, found = starter_config(os.environ)
    p.write_text(text)
    if ctx.json:
        ctx.emit({"schema": "opsbook.init/1", "ok": True, "path": str(p), "resources": found})
    else:
        out.print(f"[green]✓[/] wrote {p}" + (f" with resources from: {', '.join(found)}" if found else ""))
        out.print(f"  next: opsbook config validate -c {p} && opsbook check -c {p}")
    return 0


# -- checks ------------------------------------------------------------------------------------


@cli.command("check")
@click.argument("names", nargs=-1)
@click.option("--concurrency", type=click.IntRange(1, 10000), default=None,
              help="checks in flight at once (default: defaults.concurrency, 64)")
@click.option("--junit", "junit", default=None, metavar="FILE", help="also write JUnit XML")
@click.option("--no-store", is_flag=True, help="do not record results")
@common
def check_cmd(ctx: Ctx, names: tuple[str, ...], concurrency: int | None, junit: str | None,
              no_store: bool) -> int:
    """Run checks once (all, or NAMES and what they depend on). Exit 1 if any fails."""
    cfg = ctx.config
    store = None if no_store else app.open_store(cfg, ctx.store_override)
    try:
        live = not ctx.json and err.is_terminal
        counter = {"n": 0}

        def progress(r: CheckResult) -> None:
            counter["n"] += 1
            if live:
                err.print(f"  {status_text(r.status)} {r.name}", highlight=False)

        results, flips = asyncio.run(app.check(cfg, names, store=store, concurrency=concurrency,
                                               on_result=progress if live else None))
    finally:
        if store is not None:
            store.close()
    if junit:
        from .render.junit import checks_to_junit

        Path(junit).write_text(checks_to_junit(results, suite=f"opsbook check ({cfg.env or 'default'})"))
    code = overall_exit(results)
    if ctx.json:
        ctx.emit(jsondoc.check_run(results, cfg.env, flips))
    else:
        render_results(out, results, title=f"opsbook check · env {cfg.env or 'default'}")
        for f in flips:
            if f.from_status is not None:
                out.print(f"[bold]flip:[/] {f.check} {f.from_status} → {f.to_status}")
    return code


@cli.command("kinds")
@common
def kinds_cmd(ctx: Ctx) -> int:
    """List the check kinds and what each observes."""
    from .checks.registry import KINDS

    doc = {
        name: {"resources": list(k.resource_kinds), "default_expect": list(k.default_expect),
               "observations": dict(k.observations)}
        for name, k in KINDS.items()
    }
    if ctx.json:
        ctx.emit({"schema": "opsbook.kinds/1", "kinds": doc})
        return 0
    for name, k in KINDS.items():
        out.print(f"[bold]{name}[/] [dim](resources: {', '.join(k.resource_kinds) or '-'}; "
                  f"default expect: {', '.join(k.default_expect)})[/]")
        for obs, meaning in k.observations.items():
            out.print(f"  {obs:<18} {meaning}", markup=False)
    return 0


@cli.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@common
def history_cmd(ctx: Ctx, name: str, limit: int) -> int:
    """Show a check's stored results and status flips, newest first."""
    cfg = ctx.config
    if name not in cfg.checks:
        raise UsageError(f"no check named {name!r}", hint=f"defined: {', '.join(cfg.checks)}")
    store = app.open_store(cfg, ctx.store_override)
    try:
        results = store.history(name, cfg.env or "", limit)
        flips = store.flips(name, limit)
    finally:
        store.close()
    if ctx.json:
        ctx.emit({"schema": "opsbook.history/1", "check": name, "env": cfg.env,
                  "results": [r.to_dict() for r in results], "flips": [f.to_dict() for f in flips]})
        return 0
    render_results(out, results, title=f"{name}: last {len(results)} results")
    for f in flips:
        out.print(f"{f.at:%Y-%m-%d %H:%M:%S} {f.from_status or '(new)'} → {f.to_status}  {f.summary}",
                  markup=False)
    return 0


# -- gates ---------------------------------------------------------------------------------------


@cli.group("gate")
def gate_group() -> None:
    """CI/CD gates: exit 0 to proceed, 1 to stop."""


@gate_group.command("ready")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", default="150s", show_default=True, help="give up after this long")
@click.option("--interval", default="5s", show_default=True, help="wait this long between attempts")
@click.option("--junit", "junit", default=None, metavar="FILE", help="also write JUnit XML")
@common
def gate_ready(ctx: Ctx, names: tuple[str, ...], timeout: str, interval: str, junit: str | None) -> int:
    """Poll checks until all pass (exit 0) or the timeout passes (exit 1)."""
    from .gates import wait_ready

    cfg = ctx.config
    try:
        t, i = parse_duration(timeout), parse_duration(interval)
    except ValueError as e:
        raise UsageError(str(e)) from None
    from .runner import plan

    plan(cfg, names)  # unknown names are a usage error before any waiting

    def on_attempt(n: int, results: list[CheckResult]) -> None:
        waiting = [r for r in results if not r.ok]
        if waiting:
            first = waiting[0]
            err.print(f"  attempt {n}: {len(results) - len(waiting)}/{len(results)} ready; "
                      f"{first.name}: {first.summary}", markup=False)
        else:
            err.print(f"  attempt {n}: all {len(results)} ready", markup=False)

    from .checks.registry import KINDS

    result = asyncio.run(wait_ready(cfg, KINDS, list(names), timeout=t, interval=i, on_attempt=on_attempt))
    record_run(ctx, cfg, "gate", "ready", result.ok, result.to_dict())
    if junit:
        from .render.junit import checks_to_junit

        Path(junit).write_text(checks_to_junit(result.results, suite="opsbook gate ready"))
    if ctx.json:
        ctx.emit(result.to_dict())
    else:
        verdict = "[green]ready[/]" if result.ok else "[red]not ready[/]"
        out.print(f"gate ready: {verdict} after {result.attempts} attempt(s), {result.waited_ms / 1000:.1f}s")
        if not result.ok:
            render_results(out, result.results)
    return 0 if result.ok else 1


@cli.command("smoke")
@click.argument("name")
@click.option("--base-url", default=None, metavar="URL", help="run against this base URL")
@click.option("--junit", "junit", default=None, metavar="FILE", help="also write JUnit XML")
@common
def smoke_cmd(ctx: Ctx, name: str, base_url: str | None, junit: str | None) -> int:
    """Run a smoke suite: multi-step HTTP scenarios with captures and finally steps."""
    from .smoke import run_smoke

    cfg = ctx.config
    if name not in cfg.smoke:
        raise UsageError(f"no smoke suite named {name!r}", hint=f"defined: {', '.join(cfg.smoke) or '(none)'}")
    live = not ctx.json and err.is_terminal  # the final report repeats every step

    def on_step(step: Any) -> None:
        if live:
            err.print(f"  {status_text(step.status) if step.status in ('pass', 'fail', 'error') else step.status}"
                      f" {step.method} {step.name}", highlight=False)

    result = asyncio.run(run_smoke(cfg, name, base_url, on_step=on_step))
    record_run(ctx, cfg, "smoke", name, result.ok, result.to_dict())
    if junit:
        from .render.junit import smoke_to_junit

        Path(junit).write_text(smoke_to_junit(result))
    if ctx.json:
        ctx.emit(result.to_dict())
    else:
        from .render.smoke import render_smoke

        render_smoke(out, result)
    return 0 if result.ok else 1


# -- command groups from their own modules: one line each ----------------------------------------
from .cli_backup import backup_group, drill_group  # noqa: E402
from .cli_integrity import integrity_group  # noqa: E402
from .cli_migrate import migrate_group  # noqa: E402

cli.add_command(integrity_group)
cli.add_command(migrate_group)
cli.add_command(backup_group)
cli.add_command(drill_group)

from . import cli_notify, cli_rules, cli_serve, cli_web  # noqa: E402

cli.add_command(cli_rules.alerts_group)
cli.add_command(cli_rules.slo_group)
cli.add_command(cli_notify.notify_group)
cli.add_command(cli_notify.silence_group)
cli.add_command(cli_web.export_group)
for _cmd in cli_rules.EXTRA_COMMANDS + cli_serve.COMMANDS:
    cli.add_command(_cmd)
for _cmd in cli_rules.GATE_COMMANDS:
    gate_group.add_command(_cmd)
for _cmd in cli_notify.ALERTS_COMMANDS:
    cli_rules.alerts_group.add_command(_cmd)


def main() -> None:
    private_umask()  # files opsbook, SQLite (WAL/SHM) and pg_dump create are 0600, dirs 0700 (fsmode.py)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except Exception as e:  # pragma: no cover - last resort
        err.print(f"internal error: {type(e).__name__}: {redactor.text(str(e))}", markup=False)
        sys.exit(EXIT_COULD_NOT_RUN)
