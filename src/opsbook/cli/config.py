"""``opsbook config validate|show`` and ``opsbook init``."""

from __future__ import annotations

import click

from .common import Ctx, common, err, out


@click.group("config")
def config_group() -> None:
    """Validate and show the config."""


@config_group.command("validate")
@click.option("--strict", is_flag=True, help="an inline secret is an error (exit 2), not a warning")
@common
def config_validate(ctx: Ctx, strict: bool) -> int:
    """Check the config file: keys, types, assertions, references. Exit 2 on any problem."""
    from ..config.secrets import inline_secret_problems
    from ..errors import ConfigErrors

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
    from ..config.load import dump_redacted

    cfg = ctx.config
    data = dump_redacted(cfg.model)
    if ctx.json:
        ctx.emit({"schema": "opsbook.config/1", "env": cfg.env, "config": data})
    else:
        import yaml

        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), markup=False, end="")
    return 0


@click.command("init")
@click.option("--path", "path", default="opsbook.yaml", show_default=True, help="where to write")
@click.option("--force", is_flag=True, help="overwrite an existing file")
@common
def init_cmd(ctx: Ctx, path: str, force: bool) -> int:
    """Write a commented starter opsbook.yaml, pre-filled from DATABASE_URL, REDIS_URL and friends."""
    import os
    from pathlib import Path

    from ..errors import UsageError
    from ..starter import starter_config

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
