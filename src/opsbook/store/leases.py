"""Owner of schedule_units and daemon_instances: scheduler rows whose claims are
compare-and-set UPDATEs with a lease, and one row per running `opsbook serve`.

The same SQL runs on SQLite and PostgreSQL. A replica claims a due unit with

    UPDATE schedule_units SET lease_owner = me, lease_until = now + lease
     WHERE unit_key = ? AND next_due <= now AND (lease_until IS NULL OR lease_until < now)

and runs it only when the UPDATE returned the row: on PostgreSQL a concurrent UPDATE of the
same row waits for the first to commit and then re-checks the WHERE against the new lease; on
SQLite the write lock serialises them. (daemon/leases.py has the scheduler's side.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (30, "scheduler units with leases, and daemon instances", [
        # one row per schedulable unit (check, job, rule evaluation...). Replicas sharing the store
        # claim a due row with a compare-and-set UPDATE on (next_due, lease_until); the lease lets
        # another replica take the unit over when the claiming process dies.
        """CREATE TABLE schedule_units (
            unit_key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            spec TEXT NOT NULL,
            next_slot {ts} NOT NULL,
            next_due {ts} NOT NULL,
            lease_owner TEXT,
            lease_until {ts},
            last_started_at {ts},
            last_finished_at {ts},
            last_status TEXT,
            last_error {json},
            failures INTEGER NOT NULL DEFAULT 0,
            runs {bigint} NOT NULL DEFAULT 0)""",
        "CREATE INDEX ix_schedule_units_due ON schedule_units (next_due)",
        # one row per running `opsbook serve`, its heartbeat refreshed every few seconds
        """CREATE TABLE daemon_instances (
            instance_id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            started_at {ts} NOT NULL,
            heartbeat_at {ts} NOT NULL)""",
    ]),
]

TABLES: tuple[str, ...] = ("schedule_units", "daemon_instances")


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


# (unit key, kind, name, env, spec, first slot, first due)
NewUnit = tuple[str, str, str, str, str, datetime, datetime]


def sync_units(tx: Tx, units: list[NewUnit]) -> None:
    """Insert rows for new units (idempotent, safe to race) and reschedule units whose spec changed."""
    db = tx.db
    tx.execute_many(
        "INSERT INTO schedule_units (unit_key, kind, name, env, spec, next_slot, next_due, failures, runs) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0) ON CONFLICT (unit_key) DO NOTHING",
        [(key, kind, name, env, spec, db.ts(slot), db.ts(due)) for key, kind, name, env, spec, slot, due in units])
    tx.execute_many(
        "UPDATE schedule_units SET spec = ?, next_slot = ?, next_due = ? WHERE unit_key = ? AND spec <> ?",
        [(spec, db.ts(slot), db.ts(due), key, spec) for key, _k, _n, _e, spec, slot, due in units])


def claim_due(tx: Tx, owner: str, keys: set[str], now: datetime, lease: float) -> list[Claim]:
    """Claim every due, unleased unit among ``keys``; returns the ones this process won."""
    db = tx.db
    until = now + timedelta(seconds=lease)
    out: list[Claim] = []
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


def take(tx: Tx, owner: str, key: str, now: datetime, lease: float) -> bool | None:
    """Lease one unit now, due or not: True when taken, False when leased by someone, None when
    there is no row for it. The schedule is untouched."""
    db = tx.db
    won = tx.one("UPDATE schedule_units SET lease_owner = ?, lease_until = ? "
                 "WHERE unit_key = ? AND (lease_until IS NULL OR lease_until < ?) RETURNING unit_key",
                 (owner, db.ts(now + timedelta(seconds=lease)), key, db.ts(now)))
    if won is not None:
        return True
    return False if tx.one("SELECT 1 FROM schedule_units WHERE unit_key = ?", (key,)) else None


def give_back(tx: Tx, owner: str, key: str) -> None:
    """Drop the lease ``take`` gave, leaving the schedule as it was."""
    tx.execute("UPDATE schedule_units SET lease_owner = NULL, lease_until = NULL "
               "WHERE unit_key = ? AND lease_owner = ?", (key, owner))


def finish(tx: Tx, owner: str, key: str, *, slot: datetime, due: datetime, now: datetime,
           status: str, error: dict[str, Any] | None, failures: int) -> bool:
    """Record the outcome, schedule the next run and drop the lease; False when the lease was lost."""
    db = tx.db
    cur = tx.execute(
        "UPDATE schedule_units SET next_slot = ?, next_due = ?, lease_owner = NULL, lease_until = NULL, "
        "last_finished_at = ?, last_status = ?, last_error = ?, failures = ?, runs = runs + 1 "
        "WHERE unit_key = ? AND lease_owner = ?",
        (db.ts(slot), db.ts(due), db.ts(now), status, db.json(error), failures, key, owner))
    return bool(cur.rowcount == 1)


def renew(tx: Tx, owner: str, keys: list[str], now: datetime, lease: float) -> None:
    until = tx.db.ts(now + timedelta(seconds=lease))
    tx.execute_many("UPDATE schedule_units SET lease_until = ? WHERE unit_key = ? AND lease_owner = ?",
                    [(until, k, owner) for k in keys])


def release(tx: Tx, owner: str) -> None:
    tx.execute("UPDATE schedule_units SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", (owner,))


def rows(tx: Tx) -> list[UnitRow]:
    found = tx.all("SELECT unit_key, kind, name, next_due, lease_owner, lease_until, last_status, "
                   "last_error, failures, runs FROM schedule_units ORDER BY unit_key")
    return [UnitRow(k, kind, n, parse_ts(due), owner, maybe_ts(until),
                    st, load_json(err), int(f), int(r))
            for k, kind, n, due, owner, until, st, err, f, r in found]


# -- instances -----------------------------------------------------------------------------------


def beat(tx: Tx, instance: str, host: str, pid: int, env: str, version: str, started: datetime,
         now: datetime) -> None:
    db = tx.db
    tx.execute(
        "INSERT INTO daemon_instances (instance_id, host, pid, env, version, started_at, heartbeat_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        (instance, host, pid, env, version, db.ts(started), db.ts(now)))


def forget(tx: Tx, instance: str) -> None:
    tx.execute("DELETE FROM daemon_instances WHERE instance_id = ?", (instance,))


def alive(tx: Tx, now: datetime, within: float) -> list[dict[str, Any]]:
    """Instances whose heartbeat is more recent than ``within`` seconds."""
    found = tx.all("SELECT instance_id, host, pid, env, version, started_at, heartbeat_at FROM daemon_instances "
                   "WHERE heartbeat_at >= ? ORDER BY started_at", (tx.db.ts(now - timedelta(seconds=within)),))
    keys = ("instance_id", "host", "pid", "env", "version", "started_at", "heartbeat_at")
    return [json.loads(json.dumps(dict(zip(keys, r, strict=True)), default=str)) for r in found]
