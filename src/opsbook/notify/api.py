"""What the surfaces (web API, dashboard, CLI) call; each returns dataclasses with .to_dict().

    silences.add(store, matchers, author, comment, starts_at, ends_at, now) -> Silence
    silences.list_active(store, now) / silences.expire(store, silence_id, now, by)
    acks.acknowledge(store, group_key, by, now, comment="") -> Ack
    groups.list_groups(store) -> list[Group]
    outbox.recent(store, limit) -> list[OutboxRow]
    receivers_status(cfg, store) -> list[ReceiverStatus]
"""

from __future__ import annotations

from . import acks, groups, outbox, silences
from .outbox import receivers_status

__all__ = ["acks", "groups", "outbox", "receivers_status", "silences"]
