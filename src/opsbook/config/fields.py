"""Field types shared by every config section: assertions written as text, parsed at load;
cron expressions checked at load."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

from ..errors import AssertionSyntaxError
from .assertions import Assertion


def parse_assertion(v: Any) -> Assertion:
    if isinstance(v, Assertion):
        return v
    try:
        return Assertion.parse(v)
    except AssertionSyntaxError as e:
        raise ValueError(str(e)) from None


def _parse_warn(v: Any) -> Assertion:
    a = parse_assertion(v)
    return Assertion(a.expr, a.tree, "warn")


# an assertion whose falsity fails (Expect) or warns (WarnExpect); shown back as its text
Expect = Annotated[
    Assertion,
    PlainValidator(parse_assertion),
    PlainSerializer(lambda a: a.expr),
    WithJsonSchema({"type": "string"}),
]
WarnExpect = Annotated[
    Assertion,
    PlainValidator(_parse_warn),
    PlainSerializer(lambda a: a.expr),
    WithJsonSchema({"type": "string"}),
]


def cron(v: str | None) -> str | None:
    """A cron expression (minute hour day month weekday), checked when the config loads."""
    if v is None:
        return v
    from croniter import croniter

    if not croniter.is_valid(v):
        raise ValueError(f"{v!r} is not a cron expression (minute hour day month weekday)")
    return v


def timezone(v: str) -> str:
    """An IANA time zone name, checked when the config loads."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(v)
    except Exception:
        raise ValueError(f"unknown time zone {v!r}; use an IANA name such as UTC or Europe/Paris") from None
    return v


# field types: `schedule: Cron = None`, `timezone: TimeZone = "UTC"`
Cron = Annotated[str | None, AfterValidator(cron)]
TimeZone = Annotated[str, AfterValidator(timezone)]
