"""``opsbook notify test|status|outbox|retry|deliver|groups``: receivers and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, err, out
from .common import when as _when

if TYPE_CHECKING:
    from ..config.load import Config


@click.group("notify")
def notify_group() -> None:
    """Notifications: receivers, the outbox."""


@notify_group.command("test")
@click.argument("name")
@click.option("--message", default="opsbook test notification: if you can read this, the receiver works",
              help="text of the test notification")
@common
def notify_test(ctx: Ctx, name: str, message: str) -> int:
    """Send a test notification through receiver NAME now. Exit 1 if it could not be delivered."""
    from rich.markup import escape

    from ..errors import DeliveryError, UsageError
    from ..notify.pipeline import SCHEMA, send_one
    from ..notify.render import title_text
    from ..results import utcnow

    cfg = ctx.config
    if name not in cfg.model.notify.receivers:
        raise UsageError(f"no receiver named {name!r}",
                         hint=f"configured: {', '.join(cfg.model.notify.receivers) or '(none)'}")
    now = utcnow()
    tid = f"test-{name}-{int(now.timestamp() * 1000)}"
    payload: dict[str, Any] = {
        "schema": SCHEMA, "id": tid, "kind": "test", "status": "firing", "reason": "test", "receiver": name,
        "group_key": f"test:{{receiver=\"{name}\"}}", "group_id": "test", "group_labels": {"alertname": "test"},
        "dedup_key": f"opsbook-test-{name}", "alerts": [], "message": message,
        "external_url": cfg.model.notify.external_url, "created_at": now.isoformat(),
    }
    payload["title"] = title_text(payload)
    doc: dict[str, Any] = {"schema": "opsbook.notify-test/1", "receiver": name,
                           "kind": cfg.model.notify.receivers[name].kind}
    try:
        receipt = send_one(cfg, name, payload, now)
    except DeliveryError as e:
        doc.update(ok=False, error=e.to_dict())
        _record(ctx, cfg, name, now, None, e.to_dict())
        if ctx.json:
            ctx.emit(doc)
        err.print(f"error: {e.message}", style="red", markup=False, soft_wrap=True)
        if e.hint:
            err.print(f"  hint: {e.hint}", markup=False, soft_wrap=True)
        return 1
    doc.update(ok=True, receipt=receipt)
    _record(ctx, cfg, name, now, receipt, None)
    if ctx.json:
        ctx.emit(doc)
    else:
        out.print(f"delivered to {escape(name)} ({doc['kind']}): {escape(str(receipt))}")
    return 0


def _record(ctx: Ctx, cfg: Config, name: str, now: datetime, receipt: dict[str, Any] | None,
            error: dict[str, Any] | None) -> None:
    """The test's result becomes the receiver's last delivery/error; no store is not a failure."""
    from ..errors import OpsbookError
    from ..notify import outbox

    try:
        store = ctx.open_store(cfg)
    except OpsbookError as e:
        err.print(f"warning: not recorded: {e.message}", markup=False)
        return
    with store:
        outbox.record_receiver(store, name, now, receipt, error)


@notify_group.command("status")
@common
def notify_status(ctx: Ctx) -> int:
    """Receivers with their last delivery, last error and outbox counts."""
    from rich.markup import escape

    from ..notify.outbox import receivers_status
    from ..render.table import columns_table

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        statuses = receivers_status(cfg, store)
    if ctx.json:
        ctx.emit({"schema": "opsbook.notify-status/1", "receivers": [s.to_dict() for s in statuses]})
        return 0
    if not statuses:
        out.print("no receivers; add some under notify.receivers: (see docs/notify.md)")
        return 0
    t = columns_table("receiver", "kind", "ok", "last delivery", "last error", "pending", "dead")
    for s in statuses:
        last_err = f"{_when(s.last_error_at)} {s.last_error.get('message', '')}" if s.last_error else "-"
        t.add_row(escape(s.name), s.kind, "yes" if s.ok else "[red]no[/]", _when(s.last_success_at),
                  escape(last_err), str(s.pending), str(s.dead))
    out.print(t)
    return 0


@notify_group.command("outbox")
@click.option("--status", "status", type=click.Choice(["pending", "dead", "delivered", "all"]), default="all",
              help="only rows in this state")
@click.option("--receiver", default=None, metavar="NAME", help="only rows for this receiver")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, help="newest N rows")
@click.option("--payload", is_flag=True, help="include each notification's stored payload (--json)")
@common
def notify_outbox(ctx: Ctx, status: str, receiver: str | None, limit: int, payload: bool) -> int:
    """List outbox rows: what was sent, what waits for a retry, what is dead and why."""
    from rich.markup import escape

    from ..notify import outbox
    from ..render.table import columns_table

    with ctx.open_store(ctx.config) as store:
        rows = outbox.rows(store, None if status == "all" else status, limit, receiver)
    if ctx.json:
        ctx.emit({"schema": "opsbook.notify-outbox/1", "rows": [r.to_dict(payload) for r in rows]})
        return 0
    t = columns_table("id", "receiver", "status", "kind", "attempts", "created", "next / delivered",
                      "title / last error")
    for r in rows:
        when = _when(r.delivered_at) if r.status == "delivered" else (
            _when(r.next_attempt_at) if r.status == "pending" else "-")
        note = (r.last_error or {}).get("message", "") if r.status != "delivered" and r.last_error else \
            str(r.payload.get("title", ""))
        t.add_row(str(r.id), escape(r.receiver), r.status, r.kind, str(r.attempts), _when(r.created_at), when,
                  escape(note))
    out.print(t if rows else "the outbox is empty")
    return 0


@notify_group.command("retry")
@click.argument("row_id", type=int)
@common
def notify_retry(ctx: Ctx, row_id: int) -> int:
    """Put a dead outbox row back in the queue (after fixing its receiver)."""
    from ..errors import UsageError
    from ..notify import outbox
    from ..results import utcnow

    with ctx.open_store(ctx.config) as store:
        ok = outbox.retry(store, row_id, utcnow())
    if not ok:
        raise UsageError(f"outbox row {row_id} is not dead (or does not exist)",
                         hint="`opsbook notify outbox --status dead` lists dead rows")
    if ctx.json:
        ctx.emit({"schema": "opsbook.notify-retry/1", "id": row_id, "status": "pending"})
    else:
        out.print(f"row {row_id} queued again; the daemon (or `opsbook notify deliver`) sends it")
    return 0


@notify_group.command("deliver")
@common
def notify_deliver(ctx: Ctx) -> int:
    """Send the outbox rows that are due now (what the daemon does after each evaluation).
    Exit 1 if some delivery failed."""
    from ..notify.pipeline import deliver_due
    from ..results import utcnow

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        summary = deliver_due(cfg, store, utcnow())
    if ctx.json:
        ctx.emit({"schema": "opsbook.notify-deliver/1", **summary})
    else:
        out.print(f"delivered {summary['delivered']}, failed {summary['failed']} (will retry), "
                  f"dead {summary['dead']}")
        for e in summary["errors"]:
            err.print(f"  {e['receiver']}: {e['message']}", markup=False, soft_wrap=True)
    return 1 if summary["failed"] or summary["dead"] else 0


@notify_group.command("groups")
@common
def notify_groups(ctx: Ctx) -> int:
    """Alert groups: their ids (for `opsbook alerts ack`), alerts, last notification, who acked."""
    from rich.markup import escape

    from ..notify.groups import list_groups
    from ..render.table import columns_table

    with ctx.open_store(ctx.config) as store:
        gs = list_groups(store)
    if ctx.json:
        ctx.emit({"schema": "opsbook.notify-groups/1", "groups": [g.to_dict() for g in gs]})
        return 0
    if not gs:
        out.print("no alert groups")
        return 0
    t = columns_table("id", "labels", "receivers", "firing", "last notified", "acked by")
    for g in gs:
        d = g.to_dict()
        labels = " ".join(f"{k}={v}" for k, v in g.labels.items())
        t.add_row(g.group_id, escape(labels), escape(", ".join(d["receivers"])),
                  f"{d['firing']}" + (f" ({d['muted']} muted)" if d["muted"] else ""),
                  _when(g.last_notified_at), escape(g.acked_by or "-"))
    out.print(t)
    return 0
