"""``opsbook alerts eval|status|ack``: the rules layer, handed to notify (``alerts eval``, ``alerts ack``)."""

from __future__ import annotations

from typing import Any

import click

from .common import Ctx, at_option, common, err, me, out, parse_at


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: evaluate them, see their state."""


@alerts_group.command("eval")
@at_option
@click.option("--no-notify", is_flag=True, help="evaluate and store states only; do not hand alerts to notify")
@common
def alerts_eval(ctx: Ctx, at: str | None, no_notify: bool) -> int:
    """Evaluate every alert rule and SLO burn tier once; store states; notify. Exit 1 if a rule could not be read."""
    from rich.markup import escape

    from ..rules.engine import evaluate

    cfg = ctx.config
    now = parse_at(at)
    with ctx.open_store(cfg) as store:
        ev = evaluate(cfg, store, now)
        notified: dict[str, Any] = {}
        if not no_notify:
            from ..notify import pipeline

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
    from rich.markup import escape

    from ..rules import storage
    from ..rules.engine import current_alerts

    cfg = ctx.config
    env = cfg.env or ""
    with ctx.open_store(cfg) as store:
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


@alerts_group.command("ack")
@click.argument("group")
@click.option("--comment", default="", help="a note for the others")
@click.option("--by", "by", default=None, help="who (default: $USER)")
@common
def alerts_ack(ctx: Ctx, group: str, comment: str, by: str | None) -> int:
    """Acknowledge an alert group (its id from `opsbook notify groups`, or its key): no repeats
    until a new alert fires in it; PagerDuty receivers get an acknowledge event now."""
    from rich.markup import escape

    from ..notify import acks
    from ..notify.pipeline import deliver_due
    from ..results import utcnow

    cfg = ctx.config
    now = utcnow()
    with ctx.open_store(cfg) as store:
        ack = acks.acknowledge(store, group, by or me(), now, comment)
        sent = deliver_due(cfg, store, now) if ack.enqueued else None
    if ctx.json:
        ctx.emit({"schema": "opsbook.ack/1", **ack.to_dict(), "delivery": sent})
    else:
        out.print(f"acknowledged {ack.group_id} ({escape(ack.group_key)}) as {escape(ack.by)}")
        for name in ack.enqueued:
            out.print(f"  acknowledge event queued for {escape(name)}")
        if sent and (sent["failed"] or sent["dead"]):
            err.print("  warning: some acknowledge events could not be sent yet; the outbox retries them",
                      markup=False)
    return 0


def _render_alerts(alerts: list[Any], title: str) -> None:
    from rich.markup import escape
    from rich.table import Table

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
