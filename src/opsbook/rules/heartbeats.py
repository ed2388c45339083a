"""Heartbeats (Healthchecks-style): workers and cron jobs outside opsbook ping in; silence is the alarm.

    new     never pinged
    up      the last success is recent enough (or a run started and is within its grace)
    late    a success was due and has not come, still within grace
    down    past due + grace, or a run started and did not succeed within grace
    failed  the last ping was "fail"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config.load import Config
from ..config.rules import Heartbeat
from ..durations import format_duration
from ..errors import UsageError
from ..store import heartbeats as pings
from ..store.db import parse_ts
from ..store.store import Store

SIGNALS = ("start", "success", "fail")
MAX_BODY = 10_000  # a ping body is a log tail, not a log


@dataclass
class HeartbeatStatus:
    name: str
    status: str
    last_ping_at: datetime | None
    last_signal: str | None
    last_success_at: datetime | None
    due_at: datetime | None
    down_at: datetime | None
    reason: str
    last_body: str = ""

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {"name": self.name, "status": self.status, "last_ping_at": iso(self.last_ping_at),
                "last_signal": self.last_signal, "last_success_at": iso(self.last_success_at),
                "due_at": iso(self.due_at), "down_at": iso(self.down_at), "reason": self.reason,
                "last_body": self.last_body}


def record_ping(store: Store, name: str, signal: str, now: datetime, body: str = "", *,
                cfg: Config | None = None, env: str | None = None) -> None:
    """Record one ping. With ``cfg`` the name is checked against ``heartbeats:`` and the env taken from it."""
    if signal not in SIGNALS:
        raise UsageError(f"unknown heartbeat signal {signal!r}", hint=f"one of: {', '.join(SIGNALS)}")
    if cfg is not None and name not in cfg.model.heartbeats:
        raise UsageError(f"no heartbeat named {name!r}",
                         hint=f"defined: {', '.join(cfg.model.heartbeats) or '(none)'}")
    if not name or len(name) > 200:
        raise UsageError("a heartbeat name is 1-200 characters")
    env_name = env if env is not None else ((cfg.env or "") if cfg is not None else "")
    with store.transaction() as tx:
        pings.record(tx, name, env_name, signal, now, body[:MAX_BODY])


def due_after(hb: Heartbeat, t: datetime) -> datetime:
    """When the next success is due, given the last one at ``t``."""
    if hb.every is not None:
        return t + timedelta(seconds=hb.every)
    from croniter import croniter

    assert hb.schedule is not None
    nxt = croniter(hb.schedule, t.astimezone(ZoneInfo(hb.timezone))).get_next(datetime)
    return nxt.astimezone(UTC)


def status(cfg: Config, store: Store, now: datetime) -> list[HeartbeatStatus]:
    env = cfg.env or ""
    out = []
    with store.transaction() as tx:
        for name, hb in cfg.model.heartbeats.items():
            last, ok = pings.last_ping(tx, name, env, now), pings.last_success(tx, name, env, now)
            out.append(judge(name, hb, now, last, ok))
    return out


def judge(name: str, hb: Heartbeat, now: datetime, last: tuple[Any, ...] | None,
          last_success: datetime | None) -> HeartbeatStatus:
    if last is None:
        return HeartbeatStatus(name, "new", None, None, None, None, None, "never pinged")
    signal, at, body = last[0], parse_ts(last[1]), last[2] or ""
    grace = timedelta(seconds=hb.grace)
    base = last_success or at
    due = due_after(hb, base)
    down_at = due + grace

    def st(status: str, reason: str, d: datetime | None = due, dn: datetime | None = down_at) -> HeartbeatStatus:
        return HeartbeatStatus(name, status, at, signal, last_success, d, dn, reason, body)

    if signal == "fail":
        return st("failed", f"the last ping ({at:%Y-%m-%d %H:%M:%S}) reported failure")
    if signal == "start":
        if now > at + grace:
            return st("down", f"started {format_duration((now - at).total_seconds())} ago, "
                      f"no success within grace {format_duration(hb.grace)}", at + grace, at + grace)
        return st("up", "running: started, waiting for success", at + grace, at + grace)
    if now <= due:
        return st("up", f"last success {format_duration((now - base).total_seconds())} ago")
    if now <= down_at:
        return st("late", f"a success was due at {due:%Y-%m-%d %H:%M:%S}; within grace {format_duration(hb.grace)}")
    return st("down", f"no success since {base:%Y-%m-%d %H:%M:%S}; due {due:%H:%M:%S} + grace "
              f"{format_duration(hb.grace)}")
