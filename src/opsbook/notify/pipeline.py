"""Entry points the CLI and the daemon call after rule evaluation.

    process(cfg, store, alerts, now)   -> route/group/silence/inhibit; enqueue outbox rows
    deliver_due(cfg, store, now)       -> send the outbox rows that are due; retries, receipts

Grouping follows Alertmanager: a new group waits group_wait before its first notification;
after that the group is looked at every group_interval and notifies when its set of firing
alerts grew or some resolved; an unchanged firing group is re-sent after repeat_interval
(unless acknowledged). All state is in the store, so a restart loses no timer or message.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..config.load import Config
from ..config.notify import Notify
from ..errors import ConfigError, DeliveryError, OpsbookError
from ..rules.model import AlertInstance
from ..store import groups as group_rows
from ..store.store import Store
from . import groups as groups_mod
from . import outbox, silences
from .inhibit import inhibited
from .receivers.base import Deadline, SendContext
from .receivers.registry import RECEIVERS
from .render import title_text
from .routing import RouteNode, group_key, routes_for
from .timeintervals import muted

SCHEMA = "opsbook.notification/1"


class _LostRace(Exception):
    """Another process changed the group first: roll back, it has done the work."""


@dataclass
class _Wanted:
    node: RouteNode
    labels: dict[str, str]
    alerts: list[AlertInstance] = field(default_factory=list)
    muted: dict[str, str] = field(default_factory=dict)  # fingerprint -> silenced/inhibited by


def _node_for(n: Notify, path: str, labels: dict[str, str]) -> RouteNode | None:
    return next((node for node in routes_for(n, labels) if node.path == path), None)


def _digest(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _snapshot(a: AlertInstance, muted_by: str | None) -> dict[str, Any]:
    return {**a.to_dict(), "muted": muted_by}


def payload(cfg: Config, g: groups_mod.Group, receiver: str, *, kind: str, status: str, reason: str,
            alerts: list[dict[str, Any]], dedup_key: str, now: datetime) -> dict[str, Any]:
    """The stored notification document (no secrets: those are added by the sender)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA, "id": dedup_key, "kind": kind, "status": status, "reason": reason,
        "receiver": receiver, "group_key": g.group_key, "group_id": g.group_id, "group_labels": g.labels,
        "dedup_key": g.dedup_key, "alerts": [{k: v for k, v in a.items() if k != "muted"} for a in alerts],
        "external_url": cfg.model.notify.external_url, "created_at": now.isoformat(),
        "acked_by": g.acked_by,
    }
    doc["title"] = title_text(doc)
    return doc


def process(cfg: Config, store: Store, alerts: list[AlertInstance], now: datetime) -> dict[str, Any]:
    """Route and group these alerts (every non-inactive alert the rules layer knows of, including
    ones that just resolved) and enqueue the notifications that are due. Returns a summary."""
    n = cfg.model.notify
    summary: dict[str, Any] = {"enqueued": 0, "groups": 0, "silenced": 0, "inhibited": 0, "muted_groups": 0}
    if not n.receivers:
        return summary
    alerts = [a for a in alerts if a.state in ("firing", "resolved")]  # pending ones never notify
    active = silences.list_active(store, now)
    inhibit = inhibited(n.inhibit_rules, alerts)
    wanted: dict[str, _Wanted] = {}
    for a in alerts:
        why = None
        if a.state == "firing":
            sid = silences.silenced_by(active, a.labels)
            why = f"silenced by {sid}" if sid else inhibit.get(a.fingerprint)
            if why:
                summary["silenced" if sid else "inhibited"] += 1
        for node in routes_for(n, a.labels):
            key = group_key(node, a.labels)
            w = wanted.setdefault(key, _Wanted(node, node.group_labels(a.labels)))
            w.alerts.append(a)
            if why:
                w.muted[a.fingerprint] = why
    for key in sorted(set(wanted) | set(groups_mod.all_keys(store))):
        try:
            with store.transaction() as tx:
                result = _step(cfg, tx, key, wanted.get(key), now)
        except _LostRace:
            continue
        summary["enqueued"] += result.get("enqueued", 0)
        summary["groups"] += 1 if result.get("live") else 0
        summary["muted_groups"] += 1 if result.get("held") else 0
    return summary


def _step(cfg: Config, tx: Any, key: str, w: _Wanted | None, now: datetime) -> dict[str, Any]:
    """One group: create it, refresh its snapshot, and at flush time decide and enqueue."""
    n = cfg.model.notify
    g = groups_mod.load(tx, key)
    current = {a.fingerprint: a for a in (w.alerts if w else [])}
    mutes = w.muted if w else {}
    firing = {fp for fp, a in current.items() if a.state == "firing" and fp not in mutes}
    firing_muted = {fp for fp, a in current.items() if a.state == "firing" and fp in mutes}
    if g is None:
        if not firing or w is None:
            return {}  # nothing to say: only resolved or muted alerts, and nothing was sent before
        g = groups_mod.Group(
            key, groups_mod.group_id(key), w.node.path,
            [{"name": r, "kind": n.receivers[r].kind} for r in w.node.receivers if r in n.receivers],
            w.labels, [], [], groups_mod.pagerduty_dedup_key(key), 0, now, now,
            now + timedelta(seconds=w.node.group_wait), None)
        if not group_rows.create(tx, g, now):
            raise _LostRace
    node = w.node if w else _node_for(n, g.route, g.labels)
    # the snapshot people see: current alerts, plus notified ones that vanished (as resolved)
    snap = {fp: _snapshot(a, mutes.get(fp)) for fp, a in current.items()}
    for old in g.alerts:
        fp = old.get("fingerprint", "")
        if fp not in snap and fp in g.notified:
            snap[fp] = {**old, "state": "resolved", "resolved_at": old.get("resolved_at") or now.isoformat(),
                        "muted": None}
    alerts_json = sorted(snap.values(), key=lambda a: (a.get("state") != "firing", a.get("fingerprint", "")))
    if g.next_flush_at is not None and now < g.next_flush_at:
        group_rows.set_alerts(tx, key, alerts_json, now)
        return {"live": True}
    held = muted(n, list(node.mute_time_intervals), list(node.active_time_intervals), now) if node else None
    if held:
        # keep the flush due: what is owed goes out at the first look after the interval ends
        group_rows.set_alerts(tx, key, alerts_json, now)
        return {"live": True, "held": held}
    notified = set(g.notified)
    new_firing = firing - notified
    resolved_now = notified - firing - firing_muted  # sent as firing; now resolved or gone
    acked = g.acked_by is not None
    reason = ""
    if new_firing:
        reason = "firing" if not g.last_notified_at else "changed"
        acked = False  # a new alert in the group re-arms it
    elif resolved_now:
        reason = "changed" if firing else "resolved"
    elif firing and g.last_notified_at and node and not acked and (
            now - g.last_notified_at).total_seconds() >= node.repeat_interval:
        reason = "repeat"
    enqueued = 0
    seq = g.seq
    if reason:
        seq += 1
        status = "firing" if firing else "resolved"
        sent = [snap[fp] for fp in sorted(firing)]
        gone = [snap[fp] for fp in sorted(resolved_now) if fp in snap]
        for r in g.receivers:
            rcv = n.receivers.get(r["name"])
            if rcv is None:
                continue  # removed from the config since the group formed
            if not rcv.send_resolved and (status == "resolved" or (reason == "changed" and not new_firing)):
                continue
            body = sent + (gone if rcv.send_resolved else [])
            dkey = _digest(key, r["name"], seq, reason, sorted(firing), sorted(resolved_now))
            doc = payload(cfg, g, r["name"], kind=reason, status=status, reason=reason, alerts=body,
                          dedup_key=dkey, now=now)
            enqueued += outbox.enqueue(tx, dedup_key=dkey, group_key=key, receiver=r["name"], kind=reason,
                                       payload=doc, now=now)
    still = firing | (notified & firing_muted)
    interval = node.group_interval if node else 300.0
    if not still and not firing_muted:
        group_rows.delete(tx, key, g.seq)
        return {"enqueued": enqueued}
    if not group_rows.flushed(tx, key, g.seq, alerts=alerts_json, notified=sorted(still), seq=seq, now=now,
                              next_flush_at=now + timedelta(seconds=interval),
                              last_notified_at=now if reason else g.last_notified_at,
                              acked_by=g.acked_by if acked else None, acked_at=g.acked_at if acked else None,
                              ack_comment=g.ack_comment if acked else ""):
        raise _LostRace
    return {"enqueued": enqueued, "live": True}


# -- delivery -----------------------------------------------------------------------------------

_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def worker_id() -> str:
    """Who claims outbox rows in this process (host:pid)."""
    return _WORKER


DEFAULT_DEADLINE = 10.0  # seconds, for a receiver kind without ``timeout:``
CLAIM_MARGIN = 5.0  # a claim outlives its attempt's deadline by this much
ABANDON_GRACE = 1.0  # a sender that cannot be interrupted (apprise) is left behind this long after its deadline


def backoff(attempts: int, initial: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds until the next attempt: doubling from initial, capped, with jitter (so many rows
    failing together do not retry together); at least what Retry-After asked for."""
    base = min(cap, initial * (2 ** max(0, attempts - 1)))
    delay = base / 2 + rng.uniform(0, base / 2)
    return float(max(delay, retry_after or 0.0))


def attempt_deadline(cfg: Config, receiver: str) -> float:
    """Seconds one delivery attempt to this receiver may take in total: its ``timeout:``."""
    rcv = cfg.model.notify.receivers.get(receiver)
    return float(getattr(rcv.spec, "timeout", DEFAULT_DEADLINE)) if rcv else DEFAULT_DEADLINE


def claim_ttl(cfg: Config, receiver: str) -> float:
    """How long a claim on a row holds: the attempt's deadline and a margin. A process that dies
    (or abandons the attempt) mid-send leaves the row to the next sender soon after."""
    return attempt_deadline(cfg, receiver) + CLAIM_MARGIN


def send_one(cfg: Config, name: str, payload_doc: dict[str, Any], now: datetime,
             http: httpx.Client | None = None, deadline: Deadline | None = None) -> dict[str, Any]:
    """Send one stored notification through a named receiver now: a receipt, or DeliveryError."""
    rcv = cfg.model.notify.receivers.get(name)
    if rcv is None:
        raise DeliveryError(f"no receiver named {name!r} in notify.receivers", retryable=False,
                            hint=f"configured: {', '.join(cfg.model.notify.receivers) or '(none)'}")
    own = http is None
    client = http or httpx.Client()
    own_deadline = deadline is None  # `opsbook notify test` too: one total deadline per attempt
    deadline = deadline or Deadline(attempt_deadline(cfg, name))
    try:
        ctx = SendContext(name, cfg.base_dir, now, client, cfg.model.notify.external_url, deadline)
        try:
            return RECEIVERS[rcv.kind].send(rcv.spec, payload_doc, ctx)
        except DeliveryError:
            raise
        except ConfigError as e:  # a secret's env var unset: fixable, so keep retrying until max_age
            raise DeliveryError(f"{rcv.kind} {name}: {e.message}", hint=e.hint, retryable=True) from None
        except OpsbookError as e:
            raise DeliveryError(f"{rcv.kind} {name}: {e.message}", hint=e.hint, retryable=e.retryable) from None
    finally:
        if own_deadline:
            deadline.close()
        if own:
            client.close()


@dataclass
class _Attempt:
    row: outbox.OutboxRow
    deadline: Deadline
    give_up_at: float  # monotonic: past this, a sender that ignored its deadline is left behind


class _Pass:
    """One delivery pass. Rows go out in one lane per receiver, lanes in parallel (each attempt
    in its own daemon thread, so a stuck one never keeps the process alive); a lane sends its
    rows one at a time, and the outbox hands out only the oldest pending row of each (group,
    receiver), so a resolve never overtakes its trigger. Every attempt has a total deadline. A
    lane whose attempt failed (a receiver that is down or hung) stops for this pass, and no lane
    starts an attempt after the pass budget (the longest deadline): a slow receiver delays only
    its own notifications, and a pass ends within about two deadlines. Only this thread touches
    the store."""

    def __init__(self, cfg: Config, store: Store, now: datetime, worker: str, rng: random.Random,
                 http: httpx.Client) -> None:
        self.cfg, self.store, self.now, self.worker, self.rng, self.http = cfg, store, now, worker, rng, http
        self.policy = cfg.model.notify.delivery
        self.summary: dict[str, Any] = {"delivered": 0, "failed": 0, "dead": 0, "errors": []}
        self.lanes: dict[str, deque[outbox.OutboxRow]] = {}
        self.tried: set[int] = set()
        self.stopped: set[str] = set()
        self.running: dict[str, _Attempt] = {}  # receiver -> its attempt in flight
        self.results: queue.Queue[tuple[int, dict[str, Any] | DeliveryError]] = queue.Queue()
        self.started = time.monotonic()
        self.budget = max([attempt_deadline(cfg, n) for n in cfg.model.notify.receivers] or [DEFAULT_DEADLINE])

    def run(self, first: list[outbox.OutboxRow]) -> dict[str, Any]:
        self._queue(first)
        while True:
            self._start_idle_lanes()
            if not self.running:
                if not self._may_start() or not self._queue(outbox.due(self.store, self.now, self.policy.batch)):
                    break
                continue
            self._collect()
        return self.summary

    def _may_start(self) -> bool:
        return len(self.tried) < self.policy.batch and time.monotonic() - self.started < self.budget

    def _queue(self, rows: list[outbox.OutboxRow]) -> bool:
        """Add rows not yet tried to their receivers' lanes; True when any was added."""
        queued = {r.id for lane in self.lanes.values() for r in lane}
        added = False
        for r in rows:
            if r.id not in self.tried and r.id not in queued and r.receiver not in self.stopped:
                self.lanes.setdefault(r.receiver, deque()).append(r)
                added = True
        return added

    def _start_idle_lanes(self) -> None:
        for name, lane in self.lanes.items():
            while lane and name not in self.running and self._may_start():
                row = lane.popleft()
                self.tried.add(row.id)
                if outbox.claim(self.store, row.id, self.worker, self.now, claim_ttl(self.cfg, name)):
                    self._start(row)
                # else another sender has it: try the lane's next row

    def _start(self, row: outbox.OutboxRow) -> None:
        seconds = attempt_deadline(self.cfg, row.receiver)
        deadline = Deadline(seconds)
        self.running[row.receiver] = _Attempt(row, deadline, time.monotonic() + seconds + ABANDON_GRACE)

        def attempt() -> None:
            outcome: dict[str, Any] | DeliveryError
            try:
                outcome = send_one(self.cfg, row.receiver, row.payload, self.now, self.http, deadline)
            except DeliveryError as e:
                outcome = e
            except Exception as e:  # a bug in a sender is that row's failure, not the pass's
                outcome = DeliveryError(f"{row.receiver}: {type(e).__name__}: {e}", retryable=True)
            finally:
                deadline.close()
            self.results.put((row.id, outcome))

        threading.Thread(target=attempt, name=f"deliver-{row.receiver}", daemon=True).start()

    def _collect(self) -> None:
        """Wait for the next attempt to end; leave behind the ones past their deadline."""
        wait = min(a.give_up_at for a in self.running.values()) - time.monotonic()
        try:
            row_id, outcome = self.results.get(timeout=max(0.0, wait))
        except queue.Empty:
            for name, a in list(self.running.items()):
                if time.monotonic() >= a.give_up_at:
                    del self.running[name]
                    rcv = self.cfg.model.notify.receivers.get(name)
                    self._failed(a.row, DeliveryError(
                        f"{rcv.kind if rcv else 'receiver'} {name}: no answer within {a.deadline.seconds:g}s",
                        retryable=True, hint="the receiver is slow or hung; opsbook retries with backoff"))
            return
        found = next((a for a in self.running.values() if a.row.id == row_id), None)
        if found is None:
            return  # an attempt already given up on finished after all: its row was recorded as failed
        a = found
        del self.running[a.row.receiver]
        if isinstance(outcome, DeliveryError):
            self._failed(a.row, outcome)
            return
        outbox.delivered(self.store, a.row, self.worker, outcome, self.now)
        self.summary["delivered"] += 1
        if not self.lanes.get(a.row.receiver) and self._may_start():
            # the next row of a group becomes due once this one is out: keep the lane going
            self._queue([r for r in outbox.due(self.store, self.now, self.policy.batch)
                         if r.receiver == a.row.receiver])

    def _failed(self, row: outbox.OutboxRow, e: DeliveryError) -> None:
        policy = self.policy
        too_old = (self.now - row.created_at).total_seconds() >= policy.max_age
        retry_at = None
        if e.retryable and not too_old:
            retry_at = self.now + timedelta(seconds=backoff(row.attempts + 1, policy.initial_backoff,
                                                            policy.max_backoff, e.retry_after, self.rng))
        outbox.failed(self.store, row, self.worker, e.to_dict(), self.now, retry_at)
        self.summary["failed" if retry_at else "dead"] += 1
        self.summary["errors"].append({"id": row.id, "receiver": row.receiver, **e.to_dict()})
        if e.retryable:  # down, hung or throttling: its other rows wait for the next pass
            self.stopped.add(row.receiver)
            self.lanes.pop(row.receiver, None)


def deliver_due(cfg: Config, store: Store, now: datetime, *, worker: str | None = None,
                rng: random.Random | None = None) -> dict[str, Any]:
    """Deliver outbox rows whose next attempt is due (see ``_Pass``). Returns a summary."""
    first = outbox.due(store, now, cfg.model.notify.delivery.batch)
    if not first:
        return {"delivered": 0, "failed": 0, "dead": 0, "errors": []}  # no HTTP client (~50 ms) for nothing
    # no idle connections: each attempt opens its own, so its deadline can shut that socket down
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        return _Pass(cfg, store, now, worker or _WORKER, rng or random.Random(), http).run(first)
