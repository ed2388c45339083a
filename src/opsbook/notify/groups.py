"""Alert groups as rows (``notify_groups``): what each group holds, what was last sent, its
timers, its stable PagerDuty dedup_key and its acknowledgement."""

from __future__ import annotations

import hashlib

from ..errors import UsageError
from ..store import groups as rows
from ..store.db import Tx
from ..store.groups import COLS, Group, row_to_group
from ..store.store import Store

__all__ = ["COLS", "Group", "all_keys", "find", "group_id", "list_groups", "load", "pagerduty_dedup_key",
           "row_to_group"]


def group_id(group_key: str) -> str:
    """A short handle for people and URLs (`opsbook alerts ack 3f2a9c01b7d4`)."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:12]


def pagerduty_dedup_key(group_key: str) -> str:
    """Stable per group: a resolve and an acknowledge name the alert the trigger opened."""
    return "opsbook-" + hashlib.sha256(group_key.encode()).hexdigest()[:32]


def load(tx: Tx, group_key: str) -> Group | None:
    return rows.load(tx, group_key)


def all_keys(store: Store) -> list[str]:
    with store.transaction() as tx:
        return rows.all_keys(tx)


def list_groups(store: Store) -> list[Group]:
    """Every live alert group, newest first: key, labels, alerts, last notified, acked by."""
    with store.transaction() as tx:
        return rows.list_groups(tx)


def find(tx: Tx, key_or_id: str) -> Group:
    """A group by its full key or its id (or an unambiguous id prefix of 4+ characters)."""
    g = load(tx, key_or_id)
    if g:
        return g
    found = rows.by_id_prefix(tx, key_or_id) if len(key_or_id) >= 4 else []
    if len(found) == 1:
        return found[0]
    raise UsageError(f"no alert group {key_or_id!r}" if not found else f"{key_or_id!r} names several groups",
                     hint="`opsbook notify groups` lists groups with their ids")
