"""Scheduler rows in the store: claims are compare-and-set UPDATEs with a lease.

The same SQL runs on SQLite and PostgreSQL. A replica claims a due unit with

    UPDATE schedule_units SET lease_owner = me, lease_until = now + lease
     WHERE unit_key = ? AND next_due <= now AND (lease_until IS NULL OR lease_until < now)

and runs it only when the UPDATE returned the row: on PostgreSQL a concurrent UPDATE of the
same row waits for the first to commit and then re-checks the WHERE against the new lease; on
SQLite the write lock serialises them. A process killed mid-run stops renewing its lease; once
it expires the row matches again and another replica takes the unit over.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import __version__
from ..store import Store
from ..store.db import load_json, parse_ts
from .schedule import Unit


@dataclass(frozen=True)
class Claim:
    unit_key: str
    slot: datetime  # the slot being run, to compute the next one from
    failures: int  # errors in a row before this run


@dataclass(frozen=True)
class UnitRow:
    unit_key: str
    kind: str
    name: str
    next_due: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_status: str | None
    last_error: Any
    failures: int
    runs: int


def sync_units(store: Store, units: list[tuple[Unit, datetime, datetime]]) -> None:
    """Insert rows for new units (idempotent, safe to race) and reschedule units whose schedule
    changed. ``units`` holds (unit, first slot, first due)."""
    db = store.db
    with db.transaction() as tx:
        tx.execute_many(
            "INSERT INTO schedule_units (unit_key, kind, name, env, spec, next_slot, next_due, failures, runs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0) ON CONFLICT (unit_key) DO NOTHING",
            [(u.key, u.kind, u.name, u.env, u.spec, db.ts(slot), db.ts(due)) for u, slot, due in units])
        tx.execute_many(
            "UPDATE schedule_units SET spec = ?, next_slot = ?, next_due = ? WHERE unit_key = ? AND spec <> ?",
            [(u.spec, db.ts(slot), db.ts(due), u.key, u.spec) for u, slot, due in units])


def claim_due(store: Store, owner: str, keys: set[str], now: datetime, lease: float) -> list[Claim]:
    """Claim every due, unleased unit among ``keys``; returns the ones this process won."""
    db = store.db
    until = now + timedelta(seconds=lease)
    out: list[Claim] = []
    with db.transaction() as tx:
        rows = tx.all("SELECT unit_key FROM schedule_units WHERE next_due <= ? "
                      "AND (lease_until IS NULL OR lease_until < ?) ORDER BY unit_key",  # one lock order: no deadlocks
                      (db.ts(now), db.ts(now)))
        for (key,) in rows:
            if key not in keys:
                continue  # a unit of another config (or another environment) sharing the store
            won = tx.one(
                "UPDATE schedule_units SET lease_owner = ?, lease_until = ?, last_started_at = ? "
                "WHERE unit_key = ? AND next_due <= ? AND (lease_until IS NULL OR lease_until < ?) "
                "RETURNING next_slot, failures",
                (owner, db.ts(until), db.ts(now), key, db.ts(now), db.ts(now)))
            if won is not None:
                out.append(Claim(key, parse_ts(won[0]), int(won[1])))
    return out


def take(store: Store, owner: str, key: str, now: datetime, lease: float) -> bool | None:
    """Lease one unit now, due or not, for a manual run (the API's run-now): True when this process
    took it, False when someone holds its lease (a run is in flight), None when the store has no
    row for it (a job without a schedule: nothing scheduled can overlap it). The schedule is untouched."""
    db = store.db
    with db.transaction() as tx:
        won = tx.one("UPDATE schedule_units SET lease_owner = ?, lease_until = ? "
                     "WHERE unit_key = ? AND (lease_until IS NULL OR lease_until < ?) RETURNING unit_key",
                     (owner, db.ts(now + timedelta(seconds=lease)), key, db.ts(now)))
        if won is not None:
            return True
        return False if tx.one("SELECT 1 FROM schedule_units WHERE unit_key = ?", (key,)) else None


def give_back(store: Store, owner: str, key: str) -> None:
    """Drop the lease ``take`` gave, leaving the schedule as it was."""
    with store.db.transaction() as tx:
        tx.execute("UPDATE schedule_units SET lease_owner = NULL, lease_until = NULL "
                   "WHERE unit_key = ? AND lease_owner = ?", (key, owner))


def finish(store: Store, owner: str, key: str, *, slot: datetime, due: datetime, now: datetime,
           status: str, error: dict[str, Any] | None, failures: int) -> bool:
    """Record the outcome, schedule the next run and drop the lease. False when the lease was lost
    (it expired and another replica took the unit over): then this process changes nothing."""
    db = store.db
    with db.transaction() as tx:
        cur = tx.execute(
            "UPDATE schedule_units SET next_slot = ?, next_due = ?, lease_owner = NULL, lease_until = NULL, "
            "last_finished_at = ?, last_status = ?, last_error = ?, failures = ?, runs = runs + 1 "
            "WHERE unit_key = ? AND lease_owner = ?",
            (db.ts(slot), db.ts(due), db.ts(now), status, db.json(error), failures, key, owner))
        return bool(cur.rowcount == 1)


def renew(store: Store, owner: str, keys: list[str], now: datetime, lease: float) -> None:
    """Extend this process's leases on the units it is still running (long backups, slow checks)."""
    if not keys:
        return
    db = store.db
    until = db.ts(now + timedelta(seconds=lease))
    with db.transaction() as tx:
        tx.execute_many("UPDATE schedule_units SET lease_until = ? WHERE unit_key = ? AND lease_owner = ?",
                        [(until, k, owner) for k in keys])


def release(store: Store, owner: str) -> None:
    """Drop every lease this process holds without recording a run: the units stay due, so the
    next process (or another replica) runs them now. For work abandoned at exit."""
    with store.db.transaction() as tx:
        tx.execute("UPDATE schedule_units SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (owner,))


def rows(store: Store) -> list[UnitRow]:
    with store.db.transaction() as tx:
        found = tx.all("SELECT unit_key, kind, name, next_due, lease_owner, lease_until, last_status, "
                       "last_error, failures, runs FROM schedule_units ORDER BY unit_key")
    return [UnitRow(k, kind, n, parse_ts(due), owner, parse_ts(until) if until is not None else None,
                    st, load_json(err), int(f), int(r))
            for k, kind, n, due, owner, until, st, err, f, r in found]


# -- instances -----------------------------------------------------------------------------------


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def beat(store: Store, instance: str, env: str, started: datetime, now: datetime) -> None:
    """Say this process is alive (the dashboard counts instances with a recent heartbeat)."""
    db = store.db
    host, pid = socket.gethostname(), os.getpid()
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO daemon_instances (instance_id, host, pid, env, version, started_at, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (instance, host, pid, env, __version__, db.ts(started), db.ts(now)))


def forget(store: Store, instance: str) -> None:
    with store.db.transaction() as tx:
        tx.execute("DELETE FROM daemon_instances WHERE instance_id = ?", (instance,))


def alive(store: Store, now: datetime, within: float) -> list[dict[str, Any]]:
    """Instances whose heartbeat is more recent than ``within`` seconds."""
    db = store.db
    with db.transaction() as tx:
        found = tx.all("SELECT instance_id, host, pid, env, version, started_at, heartbeat_at FROM daemon_instances "
                       "WHERE heartbeat_at >= ? ORDER BY started_at", (db.ts(now - timedelta(seconds=within)),))
    keys = ("instance_id", "host", "pid", "env", "version", "started_at", "heartbeat_at")
    return [json.loads(json.dumps(dict(zip(keys, r, strict=True)), default=str)) for r in found]
