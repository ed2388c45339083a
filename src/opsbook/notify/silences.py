"""Silences: mute alerts matching a set of matchers between two times, with an author and a
comment. Stored in ``notify_silences``; expiring one sets its end to now (it stays listed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import UsageError
from ..store import silences as rows
from ..store.store import Store
from .matchers import Matcher, coerce, matches_all


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: list[Matcher]
    author: str
    comment: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    expired_by: str | None = None

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id, "matchers": [m.to_dict() for m in self.matchers],
            "matchers_text": " ".join(str(m) for m in self.matchers), "author": self.author,
            "comment": self.comment, "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(), "created_at": self.created_at.isoformat(),
            "expired_by": self.expired_by,
        }
        if now is not None:
            d["state"] = self.state(now)
        return d


def _row(r: rows.SilenceRow) -> Silence:
    return Silence(r.id, [Matcher.from_dict(m) for m in r.matchers], r.author, r.comment, r.starts_at, r.ends_at,
                   r.created_at, r.expired_by)


def add(store: Store, matchers: Any, author: str, comment: str, starts_at: datetime | None,
        ends_at: datetime, now: datetime) -> Silence:
    ms = coerce(matchers)
    if not ms:
        raise UsageError("a silence needs at least one matcher", hint="e.g. --match alertname=api-not-ready")
    if all(m.matches({}) for m in ms):
        raise UsageError("these matchers match every alert", hint="add a matcher on a label, e.g. alertname=...")
    starts = starts_at or now
    if ends_at <= starts or ends_at <= now:
        raise UsageError("a silence must end after it starts and after now")
    if not author.strip():
        raise UsageError("a silence needs an author", hint="pass --author NAME")
    s = Silence(uuid.uuid4().hex[:12], ms, author, comment, starts, ends_at, now)
    with store.transaction() as tx:
        rows.insert(tx, rows.SilenceRow(s.id, [m.to_dict() for m in ms], author, comment, starts, ends_at, now, None))
    return s


def list_active(store: Store, now: datetime) -> list[Silence]:
    """Silences in force now."""
    with store.transaction() as tx:
        return [_row(r) for r in rows.active(tx, now)]


def list_all(store: Store, now: datetime, include_expired: bool = False, limit: int = 200) -> list[Silence]:
    """Active and pending silences; with include_expired, the most recent expired ones too."""
    with store.transaction() as tx:
        return [_row(r) for r in rows.listing(tx, now, include_expired, limit)]


def get(store: Store, silence_id: str) -> Silence:
    with store.transaction() as tx:
        found = rows.by_id_prefix(tx, silence_id)
    if len(found) != 1:
        raise UsageError(f"no silence {silence_id!r}" if not found else f"{silence_id!r} names several silences",
                         hint="see `opsbook silence list --all` for ids")
    return _row(found[0])


def expire(store: Store, silence_id: str, now: datetime, by: str) -> Silence:
    """End a silence now. Expiring an expired silence changes nothing."""
    s = get(store, silence_id)
    if s.ends_at <= now:
        return s
    with store.transaction() as tx:
        rows.expire(tx, s.id, now, by)
    return get(store, s.id)


def silenced_by(silences: list[Silence], labels: dict[str, str]) -> str | None:
    """The id of the first active silence matching these labels."""
    return next((s.id for s in silences if s.matches(labels)), None)
