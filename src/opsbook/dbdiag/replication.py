"""``replication``: lag by replica (on a primary: pg_stat_replication; on a standby: its own replay
lag) and replication slots with the WAL they hold back (an inactive slot fills the disk)."""

from __future__ import annotations

from typing import Any

from .base import MONITOR, Options, Query, Section, age, cell, seconds, size

NAME = "replication"
TITLE = "Replication"
NEEDS = f"{MONITOR} to see replicas' positions and lag"

_ROLE = """
SELECT pg_is_in_recovery() AS standby,
       CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS own_lag_s
"""
_REPLICAS = """
SELECT application_name AS name, coalesce(host(client_addr), 'local') AS client, state, sync_state,
       extract(epoch FROM write_lag) AS write_lag_s, extract(epoch FROM flush_lag) AS flush_lag_s,
       extract(epoch FROM replay_lag) AS replay_lag_s,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END AS lag_bytes
FROM pg_stat_replication ORDER BY replay_lag DESC NULLS LAST LIMIT %s
"""
_SLOTS = """
SELECT slot_name AS name, slot_type AS type, active, database,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END
         AS retained_bytes
FROM pg_replication_slots ORDER BY 5 DESC NULLS LAST LIMIT %s
"""


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    role = await q.one(_ROLE)
    replicas = await q.rows(_REPLICAS, [opts.limit])
    slots = await q.rows(_SLOTS, [opts.limit])
    reps = [{"name": r["name"], "client": r["client"], "state": r["state"], "sync_state": r["sync_state"],
             "write_lag_s": seconds(r["write_lag_s"]), "flush_lag_s": seconds(r["flush_lag_s"]),
             "replay_lag_s": seconds(r["replay_lag_s"]), "lag_bytes": r["lag_bytes"]} for r in replicas]
    lags = [r["replay_lag_s"] for r in reps if r["replay_lag_s"] is not None]
    if role["standby"] and role["own_lag_s"] is not None:
        lags.append(seconds(role["own_lag_s"]))
    return {
        "standby": bool(role["standby"]), "own_lag_s": seconds(role["own_lag_s"]),
        # no replica, no lag: 0 keeps `replication.max_lag_s < 30` true on a lone primary
        "max_lag_s": max(lags, default=0.0),
        "replicas": reps,
        "slots": [{"name": s["name"], "type": s["type"], "active": s["active"], "database": s["database"],
                   "retained_bytes": s["retained_bytes"]} for s in slots],
    }


def sections(doc: dict[str, Any]) -> list[Section]:
    role = "standby (replay lag " + age(doc["own_lag_s"]) + ")" if doc["standby"] else "primary"
    return [
        Section(f"Replicas of this {role}", ("replica", "client", "state", "sync", "replay lag", "behind"),
                [[cell(r["name"]), r["client"], cell(r["state"]), cell(r["sync_state"]), age(r["replay_lag_s"]),
                  size(r["lag_bytes"])] for r in doc["replicas"]], empty="no replica connected"),
        Section("Replication slots", ("slot", "type", "active", "database", "WAL retained"),
                [[r["name"], r["type"], "yes" if r["active"] else "NO", cell(r["database"]),
                  size(r["retained_bytes"])] for r in doc["slots"]], empty="no replication slot"),
    ]
