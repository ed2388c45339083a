"""Config for notifications (``notify:``): routes, receivers, inhibition, time intervals.
Owned by the notify layer (src/opsbook/notify/). Semantics follow Alertmanager's where they
overlap (see docs/notify.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from ..durations import Duration, PositiveDuration
from .oneof import OneOf, OneOfModel
from .references import missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

ErrFn = Callable[..., None]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _regexes(v: dict[str, str]) -> dict[str, str]:
    for name, pattern in v.items():
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"{name}: {pattern!r} is not a regular expression: {e}") from None
    return v


class Route(Model):
    """One node of the routing tree. Unset timers and group_by are inherited from the parent."""

    receiver: str | None = Field(default=None, description="the receiver for alerts this route takes")
    to: list[str] = Field(default_factory=list, description="several receivers (short form of receiver:)")
    match: dict[str, str] = Field(default_factory=dict, description="label equality matchers, all must hold")
    match_re: dict[str, str] = Field(default_factory=dict, description="label regex matchers (full match)")
    continue_: bool = Field(default=False, alias="continue",
                            description="keep looking at later sibling routes after this one matched")
    group_by: list[str] | None = Field(default=None, description="labels that split alerts into groups")
    group_wait: Duration | None = Field(default=None, description="wait before a new group's first message")
    group_interval: PositiveDuration | None = Field(
        default=None, description="least time between changed-group messages")
    repeat_interval: PositiveDuration | None = Field(default=None, description="re-send an unchanged firing group")
    mute_time_intervals: list[str] = Field(default_factory=list, description="send nothing during these")
    active_time_intervals: list[str] = Field(default_factory=list, description="send only during these")
    routes: list[Route] = Field(default_factory=list, description="child routes, first match wins")

    @field_validator("match_re")
    @classmethod
    def _match_re(cls, v: dict[str, str]) -> dict[str, str]:
        return _regexes(v)

    @property
    def receivers(self) -> list[str]:
        return list(self.to) if self.to else ([self.receiver] if self.receiver else [])


class Receiver(OneOfModel):
    """A receiver: exactly one kind key (``webhook:``...) and the keys every receiver takes. The
    kinds, with their config models, are in notify/receivers/registry.py; the config's receiver
    model is this one plus a field per registered kind (``one_of_model``, built at load)."""

    send_resolved: bool = Field(default=True, description="also notify when a group's alerts resolve")

    @property
    def kind(self) -> str:
        return self.picked()[0]

    @property
    def spec(self) -> Model:
        spec = self.picked()[1]
        assert isinstance(spec, Model)
        return spec


RECEIVER_KIND = OneOf(none="a receiver has exactly one kind: {keys_or}",
                      many="a receiver has exactly one kind: {keys_or} (found {found})")


class InhibitRule(Model):
    """While a firing alert matches source_*, alerts matching target_* with the same equal: labels
    are not notified."""

    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=list, description="labels that must be equal on source and target")

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def _match_re(cls, v: dict[str, str]) -> dict[str, str]:
        return _regexes(v)


def _clock(v: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v.strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise ValueError(f"{v!r} is not a time of day; write it like 09:00 or 22:30")
    h, mi = int(m.group(1)), int(m.group(2))
    return time.max if h == 24 else time(h, mi)


class TimeRange(Model):
    start: str = Field(description="HH:MM, inclusive")
    end: str = Field(description="HH:MM, exclusive; earlier than start means it ends the next day")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        _clock(v)
        return v

    def contains(self, t: time) -> bool:
        start, end = _clock(self.start), _clock(self.end)
        if start <= end:
            return start <= t < end
        return t >= start or t < end  # wraps past midnight


class TimeInterval(Model):
    """Matches when every given field matches (an empty field matches anything)."""

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list, description="monday, or ranges like monday:friday")
    days_of_month: list[int] = Field(default_factory=list, description="1-31")
    location: str = Field(default="UTC", description="IANA time zone the times are in")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[str]) -> list[str]:
        for item in v:
            for day in item.lower().split(":"):
                if day not in WEEKDAYS:
                    raise ValueError(f"{item!r} is not a weekday or range (monday, monday:friday)")
        return [w.lower() for w in v]

    @field_validator("location")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Paris, UTC)") from None
        return v

    def weekday_numbers(self) -> set[int]:
        out: set[int] = set()
        for item in self.weekdays:
            a, _, b = item.partition(":")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b or a)
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        return out


class Delivery(Model):
    """How the outbox retries: exponential backoff with jitter, capped; dead after max_age."""

    initial_backoff: PositiveDuration = Field(default=10.0, description="first retry delay; doubles each attempt")
    max_backoff: PositiveDuration = Field(default=300.0, description="cap on the retry delay")
    max_age: PositiveDuration = Field(default=86400.0, description="give up (mark dead) this long after enqueueing")
    batch: int = Field(default=100, ge=1, le=10000, description="rows sent per deliver pass")


class Notify(Model):
    route: Route = Field(default_factory=Route, description="the root of the routing tree")
    routes: list[Route] = Field(default_factory=list, description="short form: child routes of the root")
    receivers: dict[str, Receiver] = Field(default_factory=dict)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: dict[str, list[TimeInterval]] = Field(default_factory=dict)
    external_url: str | None = Field(default=None, description="link to the dashboard, put in notifications")
    delivery: Delivery = Field(default_factory=Delivery)

    def root(self) -> Route:
        """The root route with defaults filled in and the short-form routes appended."""
        r = self.route
        return r.model_copy(update={
            "group_by": r.group_by if r.group_by is not None else ["alertname"],
            "group_wait": r.group_wait if r.group_wait is not None else 30.0,
            "group_interval": r.group_interval if r.group_interval is not None else 300.0,
            "repeat_interval": r.repeat_interval if r.repeat_interval is not None else 14400.0,
            "routes": [*r.routes, *self.routes],
        })


def _walk(route: Route, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Route]]:
    out = [(path, route)]
    for i, child in enumerate(route.routes):
        out.extend(_walk(child, (*path, "routes", i)))
    return out


def cross_check_notify(cfg: ConfigBase, err: ErrFn) -> None:
    """Routes name receivers that exist; time intervals named by routes exist."""
    n = cfg.notify
    nodes = _walk(n.route, ("notify", "route"))
    for i, r in enumerate(n.routes):
        nodes.extend(_walk(r, ("notify", "routes", i)))
    for path, route in nodes:
        if route.receiver and route.to:
            err((*path, "to"), "a route has receiver: or to:, not both")
        for j, rname in enumerate(route.to or ([route.receiver] if route.receiver else [])):
            if rname not in n.receivers:
                key = (*path, "to", j) if route.to else (*path, "receiver")
                msg, hint = missing("receiver", rname, n.receivers)
                err(key, msg, f"define it under notify.receivers:; {hint}")
        for field in ("mute_time_intervals", "active_time_intervals"):
            for j, iname in enumerate(getattr(route, field)):
                if iname not in n.time_intervals:
                    msg, hint = missing("time interval", iname, n.time_intervals)
                    err((*path, field, j), msg, f"define it under notify.time_intervals:; {hint}")
