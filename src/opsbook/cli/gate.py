"""``opsbook gate ready`` and ``opsbook gate budget``: CI/CD gates (the work is in ops/gate.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import Ctx, at_option, common, err, out, parse_at, parse_seconds

if TYPE_CHECKING:
    from ..results import CheckResult


@click.group("gate")
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
    from ..ops import gate

    cfg = ctx.config
    t, i = parse_seconds(timeout), parse_seconds(interval)

    def on_attempt(n: int, results: list[CheckResult]) -> None:
        waiting = [r for r in results if not r.ok]
        if waiting:
            first = waiting[0]
            err.print(f"  attempt {n}: {len(results) - len(waiting)}/{len(results)} ready; "
                      f"{first.name}: {first.summary}", markup=False)
        else:
            err.print(f"  attempt {n}: all {len(results)} ready", markup=False)

    result = gate.ready(cfg, names, t, i, ctx.recorder(cfg), on_attempt=on_attempt)
    if junit:
        from pathlib import Path

        from ..render.junit import checks_to_junit

        Path(junit).write_text(checks_to_junit(result.results, suite="opsbook gate ready"))
    if ctx.json:
        ctx.emit(result.to_dict())
    else:
        from ..render.table import render_results

        verdict = "[green]ready[/]" if result.ok else "[red]not ready[/]"
        out.print(f"gate ready: {verdict} after {result.attempts} attempt(s), {result.waited_ms / 1000:.1f}s")
        if not result.ok:
            render_results(out, result.results)
    return 0 if result.ok else 1


@gate_group.command("budget")
@click.argument("slo_name", metavar="SLO")
@click.option("--max-consumed", default=None, metavar="PCT",
              help="refuse above this share of the budget consumed (default: the SLO's freeze_at, else 100%)")
@click.option("--override", is_flag=True, help="record an override: the gate passes until it expires")
@click.option("--reason", default=None, help="why (required with --override)")
@click.option("--expires", default=None, metavar="DURATION", help="how long the override lasts, e.g. 24h")
@click.option("--by", "by", default=None, help="who overrides (default $USER)")
@at_option
@common
def gate_budget(ctx: Ctx, slo_name: str, max_consumed: str | None, override: bool, reason: str | None,
                expires: str | None, by: str | None, at: str | None) -> int:
    """Error-budget policy: exit 1 when the SLO's budget is consumed past the limit (no unexpired override)."""
    import os

    from rich.markup import escape

    from ..config.rules import percent
    from ..errors import UsageError
    from ..ops import gate

    cfg = ctx.config
    now = parse_at(at)
    granted, ttl = None, 0.0
    if override:
        if not reason or not expires:
            raise UsageError("--override needs --reason TEXT and --expires DURATION",
                             hint="e.g. --override --reason 'hotfix for INC-42' --expires 24h")
        ttl = parse_seconds(expires)
        if ttl <= 0:
            raise UsageError("--expires must be longer than 0s")
    try:
        limit = percent(max_consumed) if max_consumed is not None else None
    except ValueError as e:
        raise UsageError(str(e)) from None
    who = by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    if override:
        assert reason is not None
        granted = gate.Override(reason, who, ttl)
    with ctx.open_store(cfg) as store:
        verdict = gate.budget(cfg, store, ctx.recorder(cfg), slo_name, limit, granted, now)
    if ctx.json:
        ctx.emit(verdict.to_dict())
    else:
        word = "[green]pass[/]" if verdict.ok else "[red]refused[/]"
        out.print(f"gate budget {escape(slo_name)}: {word} · {escape(verdict.message)}")
        out.print(f"  {verdict.status.formula}", markup=False)
    return 0 if verdict.ok else 1


@gate_group.command("canary")
@click.argument("name")
@click.option("--canary", "canary_url", default=None, metavar="URL|LABEL", help="the canary (default: the config's)")
@click.option("--baseline", "baseline_url", default=None, metavar="URL|LABEL",
              help="the baseline (default: the config's)")
@click.option("--md", "markdown", is_flag=True, help="print the rollout's record as Markdown")
@common
def gate_canary(ctx: Ctx, name: str, canary_url: str | None, baseline_url: str | None, markdown: bool) -> int:
    """Judge a canary against its baseline: exit 0 promote, 1 rolled back, 3 could not measure,
    4 inconclusive (held for a human), 143 aborted by SIGTERM."""
    import signal
    import threading

    from rich.markup import escape

    from ..ops import canary

    cfg = ctx.config
    stop = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stop.set()  # the analysis sees it within a poll; the rollout is recorded as aborted

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with ctx.open_store(cfg) as store:
            rt = canary.Runtime(aborted=stop.is_set, say=lambda line: err.print(line, markup=False))
            report = canary.run(cfg, store, name, canary_url, baseline_url, rt)
            if markdown:
                from ..render.canary import markdown as render
                from ..store import rollouts

                with store.read() as tx:
                    row = rollouts.get(tx, report.rollout_id)
                    assert row is not None
                    text = render(row, rollouts.measurements(tx, row.id), rollouts.events(tx, row.id))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if ctx.json:
        ctx.emit(report.to_dict())
    elif markdown:
        click.echo(text, nl=False)
    else:
        colour = {"promoted": "green", "rolled_back": "red", "aborted": "red"}.get(report.status, "yellow")
        out.print(f"gate canary {escape(name)}: [{colour}]{report.status}[/] (rollout #{report.rollout_id}) · "
                  f"{escape(report.reason)}")
    if report.rollback_failed:
        err.print("[red bold]ROLLBACK FAILED[/]: the canary may still be serving; see the rollout's events")
    if report.promote_failed:
        err.print("[red bold]PROMOTE FAILED[/]: the analysis passed but the promote command did not; see the events")
    return report.exit_code
def _attach() -> None:
    # `gate deploy` lives with the release commands (cli/release.py): it reads the release registry
    from .release import gate_deploy

    gate_group.add_command(gate_deploy)


_attach()
