"""Human durations and sizes: ``15s``, ``500ms``, ``1h30m``, ``2d``; ``10MB``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)$", re.IGNORECASE)


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``"1h30m"``, ``"500ms"``, ``"15s"``; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 15s, 5m or 500ms")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    s = str(text).strip().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        try:
            return parse_duration(float(s))
        except ValueError:
            raise ValueError(
                f"{text!r} is not a duration; write it like 15s, 5m, 1h30m or 500ms"
            ) from None
    return total


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    out = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a size; write it like 512KB, 10MB or 1GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def _duration(v: Any) -> float:
    return parse_duration(v)


def _positive_duration(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds <= 0:
        # 0 used to fall back silently to a default (`every: 0s` ran every 60 s)
        raise ValueError(f"{v!r} must be longer than 0s")
    return seconds


# A config field holding a duration, stored as float seconds, shown back as text.
Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration)]
# The same where 0 makes no sense: intervals, timeouts, grace periods, lifetimes.
PositiveDuration = Annotated[float, BeforeValidator(_positive_duration), PlainSerializer(format_duration)]
