"""Scheduler rows in the store: claims are compare-and-set UPDATEs with a lease (the SQL and why
it is safe are in store/leases.py). A process killed mid-run stops renewing its lease; once it
expires the row matches again and another replica takes the unit over.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from .. import __version__
from ..store import Store
from ..store import leases as unit_store
from ..store.leases import Claim, UnitRow
from .schedule import Unit

__all__ = ["Claim", "UnitRow", "alive", "beat", "claim_due", "finish", "forget", "new_instance_id", "release",
           "renew", "rows", "sync_units"]


def sync_units(store: Store, units: list[tuple[Unit, datetime, datetime]]) -> None:
    """Insert rows for new units (idempotent, safe to race) and reschedule units whose schedule
    changed. ``units`` holds (unit, first slot, first due)."""
    with store.transaction() as tx:
        unit_store.sync_units(tx, [(u.key, u.kind, u.name, u.env, u.spec, slot, due) for u, slot, due in units])


def claim_due(store: Store, owner: str, keys: set[str], now: datetime, lease: float) -> list[Claim]:
    """Claim every due, unleased unit among ``keys``; returns the ones this process won."""
    with store.transaction() as tx:
        return unit_store.claim_due(tx, owner, keys, now, lease)


def take(store: Store, owner: str, key: str, now: datetime, lease: float) -> bool | None:
    """Lease one unit now, due or not, for a manual run (the API's run-now): True when this process
    took it, False when someone holds its lease (a run is in flight), None when the store has no
    row for it (a job without a schedule: nothing scheduled can overlap it). The schedule is untouched."""
    with store.transaction() as tx:
        return unit_store.take(tx, owner, key, now, lease)


def give_back(store: Store, owner: str, key: str) -> None:
    """Drop the lease ``take`` gave, leaving the schedule as it was."""
    with store.transaction() as tx:
        unit_store.give_back(tx, owner, key)


def finish(store: Store, owner: str, key: str, *, slot: datetime, due: datetime, now: datetime,
           status: str, error: dict[str, Any] | None, failures: int) -> bool:
    """Record the outcome, schedule the next run and drop the lease. False when the lease was lost
    (it expired and another replica took the unit over): then this process changes nothing."""
    with store.transaction() as tx:
        return unit_store.finish(tx, owner, key, slot=slot, due=due, now=now, status=status, error=error,
                           failures=failures)


def renew(store: Store, owner: str, keys: list[str], now: datetime, lease: float) -> None:
    """Extend this process's leases on the units it is still running (long backups, slow checks)."""
    if not keys:
        return
    with store.transaction() as tx:
        unit_store.renew(tx, owner, keys, now, lease)


def release(store: Store, owner: str) -> None:
    """Drop every lease this process holds without recording a run: the units stay due, so the
    next process (or another replica) runs them now. For work abandoned at exit."""
    with store.transaction() as tx:
        unit_store.release(tx, owner)


def rows(store: Store) -> list[UnitRow]:
    with store.transaction() as tx:
        return unit_store.rows(tx)


# -- instances -----------------------------------------------------------------------------------


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def beat(store: Store, instance: str, env: str, started: datetime, now: datetime) -> None:
    """Say this process is alive (the dashboard counts instances with a recent heartbeat)."""
    with store.transaction() as tx:
        unit_store.beat(tx, instance, socket.gethostname(), os.getpid(), env, __version__, started, now)


def forget(store: Store, instance: str) -> None:
    with store.transaction() as tx:
        unit_store.forget(tx, instance)


def alive(store: Store, now: datetime, within: float) -> list[dict[str, Any]]:
    """Instances whose heartbeat is more recent than ``within`` seconds."""
    with store.transaction() as tx:
        return unit_store.alive(tx, now, within)
