"""One event as the sources yield it: what is sent (``body``, exactly the bytes read) and the few
fields the sender needs, picked out once so the parsed object is not kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Fields:
    """Which fields of an event the sender needs: its key, its order key, its idempotency key,
    and the time --since/--until filter on (files and commands; a query filters itself)."""

    key: str
    order_key: str | None = None
    idempotency: str | None = None
    time: str | None = None


@dataclass
class Event:
    key: str
    body: bytes
    order: str | None = None
    idempotency: str | None = None
    position: dict[str, Any] | None = None  # where the source is after it: the resume cursor
    error: str | None = None  # a malformed event: recorded failed, never sent
    already: bool = False  # delivered by this run before it was resumed: not sent again
    seq: int = field(default=-1)


def lookup(obj: Any, path: str) -> Any:
    """``data.object.id`` in a parsed JSON object; None when any part is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def text_of(v: Any) -> str | None:
    if v is None or isinstance(v, dict | list):
        return None
    return str(v).lower() if isinstance(v, bool) else str(v)


def time_of(v: Any) -> datetime | None:
    """An event time: unix seconds or ISO 8601 (no zone is UTC); None when it is neither."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return datetime.fromtimestamp(v, UTC)
    if isinstance(v, str):
        try:
            t = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def from_json(line: bytes, fields: Fields, where: str, position: dict[str, Any] | None,
              since: datetime | None = None, until: datetime | None = None) -> Event | None:
    """An event from one JSON line (None when its time is outside since/until); a line that is
    not a JSON object with the key is an event with an error (keyed by where it was), recorded
    failed."""
    try:
        obj = json.loads(line)
    except ValueError:
        return Event(where, line, position=position, error=f"{where}: not JSON")
    if not isinstance(obj, dict):
        return Event(where, line, position=position, error=f"{where}: not a JSON object")
    key = text_of(lookup(obj, fields.key))
    if key is None:
        return Event(where, line, position=position, error=f"{where}: no {fields.key!r} field")
    if fields.time and not in_range(time_of(lookup(obj, fields.time)), since, until):
        return None
    return Event(key, line, order=text_of(lookup(obj, fields.order_key)) if fields.order_key else None,
                 idempotency=text_of(lookup(obj, fields.idempotency)) if fields.idempotency else key,
                 position=position)


def in_range(obj_time: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    if obj_time is None:
        return False
    return (since is None or obj_time >= since) and (until is None or obj_time < until)
