"""`opsbook alerts`, `opsbook slo`, `opsbook ping`, `opsbook heartbeats`, `opsbook gate budget` (rules work).

This module is a surface: it composes the rules layer with notify (``alerts eval`` hands the
evaluation to the notification pipeline).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from . import app
from .cli_common import Ctx, common, err, out, record_run
from .config.rules import percent
from .durations import parse_duration
from .errors import UsageError
from .results import utcnow


def _at(text: str | None) -> datetime:
    """--at TIME: evaluate as of this time (ISO 8601; no zone means UTC). Default: now."""
    if not text:
        return utcnow()
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at {text!r} is not a time", hint="write it like 2025-06-01T12:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


_AT = click.option("--at", "at", default=None, metavar="TIME", help="evaluate as of this time (ISO 8601; default now)")


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: evaluate them, see their state."""


@alerts_group.command("eval")
@_AT
@click.option("--no-notify", is_flag=True, help="evaluate and store states only; do not hand alerts to notify")
@common
def alerts_eval(ctx: Ctx, at: str | None, no_notify: bool) -> int:
    """Evaluate every alert rule and SLO burn tier once; store states; notify. Exit 1 if a rule could not be read."""
    from .rules.engine import evaluate

    cfg = ctx.config
    now = _at(at)
    with app.open_store(cfg, ctx.store_override) as store:
        ev = evaluate(cfg, store, now)
        notified: dict[str, Any] = {}
        if not no_notify:
            from .notify import pipeline

            notified = {"process": pipeline.process(cfg, store, ev.alerts, now),
                        "deliver": pipeline.deliver_due(cfg, store, now)}
    doc = {**ev.to_dict(), "notify": notified}
    if ctx.json:
        ctx.emit(doc)
    else:
        _render_alerts(ev.alerts, f"alerts · {ev.rules} rules evaluated at {now:%Y-%m-%d %H:%M:%S} "
                                  f"in {ev.duration_ms:.0f} ms")
        for t in ev.transitions:
            out.print(f"{t.rule}: {t.from_state} → {t.to_state}  {t.reason}", markup=False)
        for rule, msg in ev.errors.items():
            out.print(f"[red]error[/] {escape(rule)}: {escape(msg)}")
    return 1 if ev.errors else 0


@alerts_group.command("status")
@common
def alerts_status(ctx: Ctx) -> int:
    """Show stored alert states (pending, firing) and rules' last errors. Exit 1 if any alert is firing."""
    from .rules import storage
    from .rules.engine import current_alerts

    cfg = ctx.config
    env = cfg.env or ""
    with app.open_store(cfg, ctx.store_override) as store:
        alerts = current_alerts(store, env)
        rules = storage.rule_status(store, env)
        history = storage.transitions(store, env, 20)
    errors = {r: {"error": s["last_error"], "at": s["last_error_at"].isoformat()}
              for r, s in rules.items() if s["last_error"] and (r in cfg.model.alerts or r.startswith("slo:"))}
    firing = sum(a.state == "firing" for a in alerts)
    if ctx.json:
        ctx.emit({"schema": "opsbook.alerts-status/1", "firing": firing,
                  "pending": sum(a.state == "pending" for a in alerts), "alerts": [a.to_dict() for a in alerts],
                  "last_errors": errors, "transitions": history,
                  "last_eval_at": max((s["last_eval_at"] for s in rules.values()), default=None)})
    else:
        _render_alerts(alerts, f"alerts · {firing} firing")
        for r, e in errors.items():
            out.print(f"[dim]last error[/] {escape(r)} ({e['at']}): {escape(str(e['error']))}")
    return 1 if firing else 0


def _render_alerts(alerts: list[Any], title: str) -> None:
    if not alerts:
        out.print(f"{title}: nothing pending or firing")
        return
    colour = {"firing": "red", "pending": "yellow", "resolved": "green"}
    t = Table(title=title, header_style="bold")
    for col in ("state", "alert", "severity", "since", "reason"):
        t.add_column(col, overflow="fold")
    for a in alerts:
        since = a.fired_at or a.active_since or a.resolved_at
        t.add_row(f"[{colour.get(a.state, 'white')}]{a.state}[/]", escape(_instance(a)), a.severity,
                  f"{since:%Y-%m-%d %H:%M:%S}" if since else "-", escape(a.reason))
    out.print(t)


def _instance(a: Any) -> str:
    rule: str = a.rule
    extra = {k: v for k, v in a.labels.items() if k not in ("alertname", "severity", "env")}
    return rule + (" {" + ", ".join(f"{k}={v}" for k, v in extra.items()) + "}" if extra else "")


# -- SLOs ------------------------------------------------------------------------------------------


@click.group("slo")
def slo_group() -> None:
    """Service level objectives and error budgets."""


@slo_group.command("status")
@click.argument("names", nargs=-1)
@_AT
@common
def slo_status(ctx: Ctx, names: tuple[str, ...], at: str | None) -> int:
    """Per SLO: events, budget consumed/remaining with the formula, each burn tier. Exit 3 if an SLI is unreadable."""
    from .rules import slo

    cfg = ctx.config
    now = _at(at)
    with app.open_store(cfg, ctx.store_override) as store:
        rows = [slo.status_of(cfg, store, n, now) for n in (names or tuple(cfg.model.slos))]
    if ctx.json:
        ctx.emit({"schema": slo.SCHEMA, "at": now.isoformat(), "slos": [s.to_dict() for s in rows]})
    else:
        if not rows:
            out.print("no SLOs; add one under slos: (see docs/slos.md)")
        for s in rows:
            out.print(f"[bold]{escape(s.name)}[/]: objective {s.objective:.3%} over {s.window} · {escape(s.sli)}")
            if s.error:
                out.print(f"  [red]error[/]: {escape(s.error)}")
                continue
            e = s.events
            colour = "red" if s.consumed >= 1 else "yellow" if s.consumed >= 0.75 else "green"
            out.print(f"  events {e.total} ({e.total - e.bad} good, {e.bad} bad) · budget consumed "
                      f"[{colour}]{s.consumed:.1%}[/], remaining {s.remaining:.1%}")
            out.print(f"  {s.formula}", markup=False)
            for a, b in s.excluded:
                out.print(f"  excluded (maintenance): {a:%Y-%m-%d %H:%M} → {b:%Y-%m-%d %H:%M}", markup=False)
            for t in s.tiers:
                mark = "[red]FIRING[/]" if t.firing else "[green]ok[/]"
                out.print(f"  {t.name:>5} {t.severity:<6} {mark} {escape(t.describe())}")
    return 3 if any(s.error for s in rows) else 0


@slo_group.group("export")
def slo_export() -> None:
    """Write equivalent rules for other tools."""


@slo_export.command("prometheus")
@click.option("--out", "out_path", default=None, metavar="FILE", help="write the rules file here (default stdout)")
@common
def slo_export_prometheus(ctx: Ctx, out_path: str | None) -> int:
    """Prometheus recording and alerting rules for the prometheus: SLOs and alert rules."""
    from .rules.export import prometheus_rules

    cfg = ctx.config
    text, skipped = prometheus_rules(cfg)
    if out_path:
        Path(out_path).write_text(text)
    if ctx.json:
        ctx.emit({"schema": "opsbook.slo-export/1", "format": "prometheus", "path": out_path,
                  "rules": text, "skipped": skipped})
    elif not out_path:
        click.echo(text, nl=False)
    else:
        out.print(f"wrote {out_path}", markup=False)
    for s in skipped:
        err.print(f"skipped: {s}", markup=False)
    return 0


# -- gate budget -----------------------------------------------------------------------------------


@click.command("budget")
@click.argument("slo_name", metavar="SLO")
@click.option("--max-consumed", default=None, metavar="PCT",
              help="refuse above this share of the budget consumed (default: the SLO's freeze_at, else 100%)")
@click.option("--override", is_flag=True, help="record an override: the gate passes until it expires")
@click.option("--reason", default=None, help="why (required with --override)")
@click.option("--expires", default=None, metavar="DURATION", help="how long the override lasts, e.g. 24h")
@click.option("--by", "by", default=None, help="who overrides (default $USER)")
@_AT
@common
def gate_budget(ctx: Ctx, slo_name: str, max_consumed: str | None, override: bool, reason: str | None,
                expires: str | None, by: str | None, at: str | None) -> int:
    """Error-budget policy: exit 1 when the SLO's budget is consumed past the limit (no unexpired override)."""
    from .rules import budget

    cfg = ctx.config
    now = _at(at)
    if override:
        if not reason or not expires:
            raise UsageError("--override needs --reason TEXT and --expires DURATION",
                             hint="e.g. --override --reason 'hotfix for INC-42' --expires 24h")
        try:
            ttl = parse_duration(expires)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if ttl <= 0:
            raise UsageError("--expires must be longer than 0s")
    try:
        limit = percent(max_consumed) if max_consumed is not None else None
    except ValueError as e:
        raise UsageError(str(e)) from None
    who = by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    with app.open_store(cfg, ctx.store_override) as store:
        if override:
            assert reason is not None
            budget.add_override(cfg, store, slo_name, reason, who, now, now + timedelta(seconds=ttl))
        verdict = budget.check(cfg, store, slo_name, now, limit)
    doc = verdict.to_dict()
    record_run(ctx, cfg, "gate", "budget", verdict.ok, doc, status="pass" if verdict.ok else "fail")
    if ctx.json:
        ctx.emit(doc)
    else:
        word = "[green]pass[/]" if verdict.ok else "[red]refused[/]"
        out.print(f"gate budget {escape(slo_name)}: {word} · {escape(verdict.message)}")
        out.print(f"  {verdict.status.formula}", markup=False)
    return 0 if verdict.ok else 1


# -- heartbeats ------------------------------------------------------------------------------------


@click.command("ping")
@click.argument("name")
@click.argument("signal", required=False, default="success", type=click.Choice(["start", "success", "fail"]))
@click.option("--body", default="", help="text kept with the ping (a log tail, an exit code)")
@common
def ping_cmd(ctx: Ctx, name: str, signal: str, body: str) -> int:
    """Record a heartbeat ping: start, success (default) or fail. Exit 2 for an unknown heartbeat."""
    from .rules.heartbeats import record_ping

    cfg = ctx.config
    now = utcnow()
    with app.open_store(cfg, ctx.store_override) as store:
        record_ping(store, name, signal, now, body, cfg=cfg)
    if ctx.json:
        ctx.emit({"schema": "opsbook.ping/1", "ok": True, "name": name, "signal": signal, "at": now.isoformat()})
    else:
        out.print(f"{name}: {signal} recorded at {now:%Y-%m-%d %H:%M:%S}", markup=False)
    return 0


@click.group("heartbeats")
def heartbeats_group() -> None:
    """Heartbeats: pings from workers and cron jobs outside opsbook."""


@heartbeats_group.command("status")
@_AT
@common
def heartbeats_status(ctx: Ctx, at: str | None) -> int:
    """Each heartbeat: new, up, late, down or failed. Exit 1 if any is down or failed."""
    from .rules.heartbeats import status

    cfg = ctx.config
    now = _at(at)
    with app.open_store(cfg, ctx.store_override) as store:
        rows = status(cfg, store, now)
    bad = [r for r in rows if r.status in ("down", "failed")]
    if ctx.json:
        ctx.emit({"schema": "opsbook.heartbeats/1", "at": now.isoformat(), "heartbeats": [r.to_dict() for r in rows]})
    else:
        t = Table(title="heartbeats", header_style="bold")
        for col in ("name", "status", "last ping", "due", "reason"):
            t.add_column(col)
        for r in rows:
            t.add_row(escape(r.name), r.status, f"{r.last_ping_at:%Y-%m-%d %H:%M:%S}" if r.last_ping_at else "-",
                      f"{r.due_at:%Y-%m-%d %H:%M:%S}" if r.due_at else "-", escape(r.reason))
        out.print(t)
    return 1 if bad else 0


# commands added to groups defined elsewhere (cli.py registers them: one line each)
EXTRA_COMMANDS: list[click.Command] = [ping_cmd, heartbeats_group]  # top-level
GATE_COMMANDS: list[click.Command] = [gate_budget]  # under `opsbook gate`
