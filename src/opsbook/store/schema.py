"""Store tables as numbered SQL migrations, portable across SQLite and PostgreSQL, gathered from
the owner modules: each owner keeps the CREATE/ALTER statements of its tables beside its SQL.

A migration is append-only: never edit one that has shipped; add the next number. Types are
written {id}, {json}, {ts}, {bool}, {bigint} and filled in per dialect (db.TYPES). One number
may hold statements of several owners (1 and 40 did, before the tables had owners): its parts
run together, in the order of OWNERS, in one transaction, recorded once.

Table -> owner (tests/test_store_ownership.py fails on SQL against a table outside its owner):
"""

from __future__ import annotations

from types import ModuleType

from . import (
    alerts,
    audit,
    checks,
    db_snapshots,
    escalations,
    heartbeats,
    incident_actions,
    incidents,
    leases,
    oncall,
    outbox,
    releases,
    replay_runs,
    rollouts,
    rollup,
    runbook_runs,
    runs,
    secret_rotations,
    sessions,
    silences,
)
from . import groups as notify_groups
from . import status_updates as public_updates

# numbered ranges: checks/runs 1-9, rules 10-19, notify 20-29, serve 30-39, web 40-49, on-call 50-59,
# incidents 60-69 (escalation 64-66), runbooks 70-79, releases 80-84, canary rollouts 85-89,, db snapshots 100-104
OWNERS: tuple[ModuleType, ...] = (checks, runs, alerts, heartbeats, notify_groups, outbox, silences, leases,
                                  rollup, audit, sessions, oncall, incidents, incident_actions, public_updates,
                                  escalations, runbook_runs, rollouts, releases, replay_runs, secret_rotations,
                                  db_snapshots)


def _gather() -> list[tuple[int, str, list[str]]]:
    by_number: dict[int, tuple[str, list[str]]] = {}
    for owner in OWNERS:
        for number, description, statements in owner.MIGRATIONS:
            got = by_number.setdefault(number, (description, []))
            got[1].extend(statements)
    return [(n, d, s) for n, (d, s) in sorted(by_number.items())]


MIGRATIONS: list[tuple[int, str, list[str]]] = _gather()

# table -> the module that owns it
OWNER_OF: dict[str, str] = {t: o.__name__ for o in OWNERS for t in o.TABLES}
# in the order `store info` has always listed them
TABLES: tuple[str, ...] = (
    "check_results", "check_state", "check_flips", "runs", "alert_state", "alert_transitions", "alert_rule_status",
    "heartbeat_pings", "slo_overrides", "notify_groups", "notify_outbox", "notify_silences", "notify_receivers",
    "schedule_units", "daemon_instances", "check_rollups", "rollup_watermarks", "api_audit", "api_sessions",
    "oncall_overrides", "incidents", "incident_events", "incident_actions", "status_updates",
    "incident_escalations", "runbook_runs", "runbook_steps", "runbook_approvals", "runbook_locks", "rollouts",
    "rollout_measurements", "rollout_events", "releases", "release_events", "replay_runs", "replay_events",
    "secret_rotations", "db_snapshots")
assert set(TABLES) == set(OWNER_OF), "a table without an owner, or an owner's table missing here"
