"""Store tables of the serve work, as numbered migrations 30-39 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

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
