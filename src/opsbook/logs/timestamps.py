"""Timestamps as log lines write them -> epoch seconds (float, UTC).

ISO 8601 with or without fractions (any number of digits), with ``Z`` or an offset, with a space
or a ``T``; no zone means UTC. Epoch numbers (or numeric text): seconds, milliseconds,
microseconds or nanoseconds, told apart by magnitude (1e11 seconds is the year 5138).
Apache/nginx ``01/Jun/2025:12:00:00 +0000``. Anything else: None.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_fromiso = datetime.fromisoformat


def _epoch(n: float) -> float:
    a = abs(n)
    if a >= 1e17:
        return n / 1e9
    if a >= 1e14:
        return n / 1e6
    if a >= 1e11:
        return n / 1e3
    return n


def to_epoch(v: Any) -> float | None:
    t = type(v)
    if t is str:
        try:
            dt = _fromiso(v)
        except ValueError:
            return _odd(v)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    if t is int or t is float:
        return _epoch(float(v))
    return None


def _odd(v: str) -> float | None:
    s = v.strip()
    try:
        return _epoch(float(s))
    except ValueError:
        pass
    if s.endswith(("z", "Z")) or "," in s:
        fixed = s[:-1] + "+00:00" if s[-1] in "zZ" else s
        try:
            dt = _fromiso(fixed.replace(",", "."))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    for fmt in ("%d/%b/%Y:%H:%M:%S %z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(s, fmt).timestamp()
        except ValueError:
            continue
    return None
