"""``opsbook env check|diff|matrix``: an environment's variables against its ``env_contract:``.
Values are read into memory and judged; no output names a value (docs/env.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, out

if TYPE_CHECKING:
    from ..config.env_contract import SourceSpec
    from ..config.load import Config
    from ..envcontract.judge import Report


@click.group("env")
def env_group() -> None:
    """Environment contracts: check one environment, diff two by fingerprints, print the matrix."""


def _config(ctx: Ctx, prefer: str | None) -> Config:
    """The config, loaded for ``prefer`` when it is one of its environments: a contract may name
    environments the config's environments: does not define (then none is picked)."""
    from ..errors import ConfigError
    from ..ops.load import load

    try:
        return load(ctx.config_path, prefer)
    except ConfigError as e:
        if e.path != "environments" or prefer is None:
            raise
    return load(ctx.config_path, None)


def _override(from_env: bool, dotenv: str | None, command: str | None, timeout: str) -> SourceSpec | None:
    from ..config.env_contract import SourceSpec
    from ..errors import UsageError
    from .common import parse_seconds

    picked = sum((from_env, dotenv is not None, command is not None))
    if picked > 1:
        raise UsageError("pass one of --from-env, --from-dotenv, --from-command")
    if not picked:
        return None
    return SourceSpec(process=from_env, dotenv=dotenv, command=command, timeout=parse_seconds(timeout))


def source_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--app", default=None, metavar="NAME", help="the env_contract app (default: the only one)"),
        click.option("--from-env", "from_env", is_flag=True, help="read this process's environment"),
        click.option("--from-dotenv", "dotenv", default=None, metavar="FILE", help="read a dotenv file"),
        click.option("--from-command", "command", default=None, metavar="CMD",
                     help="run a shell command printing JSON or dotenv"),
        click.option("--timeout", default="30s", show_default=True, help="the command's deadline"),
    ]):
        fn = opt(fn)
    return fn


def _violations(ctx: Ctx, report: Report) -> None:
    from rich.markup import escape

    for v in report.violations:
        ctx.console.print(f"  [red]✗[/] {escape(v.message)}")


@env_group.command("check")
@common
@source_options
@click.option("--compare", is_flag=True, help="also read the environments named with this one in "
                                              "differs_between/same_in and judge those rules")
def check_cmd(ctx: Ctx, app: str | None, from_env: bool, dotenv: str | None, command: str | None, timeout: str,
              compare: bool) -> int:
    """Validate one environment (--env NAME) against the contract. Exit 1 on a violation, 3 when
    a source cannot be read."""
    from ..envcontract.run import evaluate, pick_app
    from ..errors import UsageError

    if not ctx.env:
        raise UsageError("say which environment to check", hint="pass --env NAME")
    env = ctx.env
    cfg = _config(ctx, env)
    envs = [env]
    if compare:
        _, contract = pick_app(cfg.model, app)
        for var in contract.variables.values():
            envs += [x for pair in var.pairs() if env in pair for x in pair]
            envs += var.same_in if env in var.same_in else []
        envs = list(dict.fromkeys(envs))
    override = _override(from_env, dotenv, command, timeout)
    report = evaluate(cfg.model, cfg.base_dir, app, envs, {env: override} if override else None, compare)
    mine = [v for v in report.violations if env in v.env.split(",")]
    if ctx.json:
        doc = report.to_dict()
        ctx.emit({"schema": "opsbook.env-check/1", "env": env, "app": report.app,
                  "variables": {v: report.cells[(v, env)].label() for v in report.variables},
                  "violations": [v.to_dict() for v in mine], "ok": not mine,
                  **({"compared": doc["environments"]} if compare else {})})
    else:
        mark = "[green]✓[/]" if not mine else "[red]✗[/]"
        ctx.console.print(f"{mark} {report.app}/{env}: {len(report.variables)} variables, "
                          f"{len(mine)} violation(s)")
        _violations(ctx, report)
    return 1 if mine else 0


@env_group.command("diff")
@common
@click.argument("left")
@click.argument("right")
@click.option("--app", default=None, metavar="NAME", help="the env_contract app (default: the only one)")
def diff_cmd(ctx: Ctx, left: str, right: str, app: str | None) -> int:
    """Compare two environments variable by variable: same / different / missing, decided on
    HMAC fingerprints under a key made for this run, so no value is ever printed or compared in
    the clear. Exit 1 when a contract rule is broken."""
    from rich.markup import escape

    from ..envcontract.judge import diff
    from ..envcontract.run import evaluate
    from ..render.table import columns_table

    cfg = _config(ctx, ctx.env or left)
    report = evaluate(cfg.model, cfg.base_dir, app, [left, right])
    res = diff(report, left, right)
    if ctx.json:
        ctx.emit({"schema": "opsbook.env-diff/1", "app": report.app, "left": left, "right": right,
                  "variables": res, "violations": [v.to_dict() for v in report.violations],
                  "ok": not report.violations})
    else:
        t = columns_table("variable", "comparison", left, right)
        for v, what in res.items():
            t.add_row(escape(v), what, report.cells[(v, left)].state, report.cells[(v, right)].state)
        out.print(t)
        _violations(ctx, report)
    return 1 if report.violations else 0


@env_group.command("matrix")
@common
@click.option("--app", default=None, metavar="NAME", help="the env_contract app (default: the only one)")
@click.option("--only", "only", multiple=True, metavar="ENV", help="these environments (default: all of the app's "
                                                                   "with a source)")
def matrix_cmd(ctx: Ctx, app: str | None, only: tuple[str, ...]) -> int:
    """Variables by environment: present / missing / invalid / forbidden / equal-to-X. Exit 1
    on a violation."""
    from rich.markup import escape

    from ..config.env_contract import app_envs
    from ..envcontract.run import evaluate, pick_app
    from ..render.table import columns_table

    cfg = _config(ctx, ctx.env or (only[0] if only else None))
    name, contract = pick_app(cfg.model, app)
    envs = list(only) or [e for e in app_envs(cfg.model, contract) if e in contract.sources]
    report = evaluate(cfg.model, cfg.base_dir, name, envs)
    if ctx.json:
        ctx.emit({"schema": "opsbook.env-matrix/1", **report.to_dict(), "ok": not report.violations})
    else:
        t = columns_table("variable", *envs)
        for v in report.variables:
            t.add_row(escape(v), *(_cell(report.cells[(v, e)].label()) for e in envs))
        out.print(t)
        _violations(ctx, report)
    return 1 if report.violations else 0


def _cell(label: str) -> str:
    style = {"present": "green", "missing": "red", "invalid": "red", "forbidden": "red", "absent": "dim"}
    return f"[{style.get(label.split(' ')[0], 'yellow')}]{label}[/]"
