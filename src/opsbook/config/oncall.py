"""Config for people and on-call schedules (``people:``, ``oncall:``).

A schedule has a timezone and one or more layers; each layer rotates through its people every
``rotation``, handing off at ``handoff`` (local wall-clock time) from its ``start`` date, and may be
restricted to a daily window. Later layers win where they have someone on call. The arithmetic is
in rules/oncall.py; this module only validates.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from ..durations import PositiveDuration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str) -> time:
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a time of day; write it like 09:00 (24-hour HH:MM)")
    return time(int(m.group(1)), int(m.group(2)))


class Person(Model):
    name: str = Field(default="", description="display name (default: the key)")
    contact: list[str] = Field(default_factory=list, description="receivers from notify.receivers that reach them")


class Restrict(Model):
    """A daily window a layer is on call in; outside it the layer has nobody (an earlier layer may)."""

    hours: str = Field(description="HH:MM-HH:MM local time; an end at or before the start runs past midnight")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), description="days the window starts on")

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        parts = v.split("-")
        if len(parts) != 2:
            raise ValueError(f"{v!r} is not a window; write it like 09:00-17:00")
        start, end = (parse_hhmm(p) for p in parts)
        if start == end:
            raise ValueError("a window of zero length; to be on call all day, leave restrict: out")
        return v.strip()

    def bounds(self) -> tuple[time, time]:
        start, end = self.hours.split("-")
        return parse_hhmm(start), parse_hhmm(end)


class Layer(Model):
    people: list[str] = Field(min_length=1, description="who rotates, in order (names from people:)")
    rotation: PositiveDuration = Field(default=604800.0, description="shift length, e.g. 1w, 1d, 12h")
    handoff: str = Field(default="09:00", description="local time of day shifts change hands")
    start: date = Field(description="the day the first person's first shift starts (at handoff)")
    restrict: Restrict | None = None

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, v: str) -> str:
        parse_hhmm(v)
        return v.strip()

    @field_validator("rotation")
    @classmethod
    def _rotation(cls, v: float) -> float:
        # whole minutes: handoffs are wall-clock times, and sub-minute shifts are a typo
        if v < 3600 or v % 60:
            raise ValueError("a rotation is at least 1h, in whole minutes (e.g. 12h, 1d, 1w)")
        return v

    def handoff_time(self) -> time:
        return parse_hhmm(self.handoff)


class Schedule(Model):
    description: str = ""
    timezone: str = Field(default="UTC", description="IANA zone handoffs and windows are read in, e.g. Europe/Berlin")
    layers: list[Layer] = Field(min_length=1, description="later layers win where they have someone on call")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}; write an IANA name like Europe/Berlin or UTC") from None
        return v

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def cross_check_oncall(cfg: ConfigBase, err: ErrFn) -> None:
    """Contacts name receivers that exist; layers name people that exist."""
    for pname, person in cfg.people.items():
        for i, rname in enumerate(person.contact):
            if rname not in cfg.notify.receivers:
                msg, hint = missing("receiver", rname, cfg.notify.receivers)
                err(("people", pname, "contact", i), msg, f"define it under notify.receivers:; {hint}")
    for sname, sched in cfg.oncall.items():
        for li, layer in enumerate(sched.layers):
            for i, who in enumerate(layer.people):
                if who not in cfg.people:
                    msg, hint = missing("person", who, cfg.people, "people")
                    err(("oncall", sname, "layers", li, "people", i), msg, f"define them under people:; {hint}")
