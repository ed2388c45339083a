"""``connections``: client sessions by state, application, user and client; the sessions idle in
a transaction (they hold locks and snapshots) with their ages; the sessions waiting on a lock."""

from __future__ import annotations

from typing import Any

from .base import MONITOR, Options, Query, Section, age, cell, hidden_notes, query_text, seconds

NAME = "connections"
TITLE = "Connections"
NEEDS = MONITOR  # without it, other users' sessions show no state or query

_GROUPS = """
SELECT coalesce(state, 'unknown') AS state, coalesce(usename::text, '') AS "user",
       coalesce(application_name, '') AS application,
       coalesce(host(client_addr), 'local') AS client, count(*) AS n
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4 ORDER BY n DESC LIMIT 1000
"""
_TOTALS = """
SELECT current_setting('max_connections')::int AS max,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND state LIKE 'idle in transaction%') AS idle_in_transaction,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND wait_event_type = 'Lock') AS waiting
"""
# sessions: idle in a transaction (oldest transaction first) or waiting on a lock (longest wait first)
_SESSIONS = """
SELECT pid, usename AS "user", application_name AS application,
       coalesce(host(client_addr), 'local') AS client, state, wait_event_type, wait_event,
       extract(epoch FROM clock_timestamp() - xact_start) AS xact_age_s,
       extract(epoch FROM clock_timestamp() - state_change) AS state_age_s, query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND {where}
ORDER BY {order} LIMIT %s
"""


def _session(r: dict[str, Any]) -> dict[str, Any]:
    return {"pid": r["pid"], "user": r["user"], "application": r["application"], "client": r["client"],
            "state": r["state"], "wait_event": f"{r['wait_event_type']}:{r['wait_event']}" if r["wait_event"] else None,
            "xact_age_s": seconds(r["xact_age_s"]), "state_age_s": seconds(r["state_age_s"]),
            "query": query_text(r["query"])}


def _by(groups: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in groups:
        out[g[key]] = out.get(g[key], 0) + int(g["n"])
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    totals = await q.one(_TOTALS)
    groups = await q.rows(_GROUPS)
    idle = await q.rows(_SESSIONS.format(where="state LIKE 'idle in transaction%%'", order="xact_start"),
                        [opts.limit])
    waiting = await q.rows(_SESSIONS.format(where="wait_event_type = 'Lock'", order="state_change"), [opts.limit])
    notes = await hidden_notes(q)
    return {
        "max": totals["max"], "used": totals["used"],
        "ratio": round(totals["used"] / totals["max"], 4) if totals["max"] else None,
        "idle_in_transaction": totals["idle_in_transaction"], "waiting": totals["waiting"],
        "by_state": _by(groups, "state"), "by_application": _by(groups, "application"),
        "by_user": _by(groups, "user"), "by_client": _by(groups, "client"),
        "idle_in_transaction_sessions": [_session(r) for r in idle],
        "waiting_sessions": [_session(r) for r in waiting],
        "notes": notes,
    }


def sections(doc: dict[str, Any]) -> list[Section]:
    summary = [["used / max", f"{doc['used']} / {doc['max']}"],
               ["idle in transaction", str(doc["idle_in_transaction"])], ["waiting on a lock", str(doc["waiting"])]]
    out = [Section("Summary", ("what", "value"), summary, notes=doc.get("notes") or [])]
    for key, title in (("by_state", "By state"), ("by_application", "By application"), ("by_user", "By user"),
                       ("by_client", "By client")):
        out.append(Section(title, (title.split()[-1], "sessions"), [[cell(k), str(v)] for k, v in doc[key].items()]))
    cols = ("pid", "user", "application", "client", "transaction age", "state age", "query")
    out.append(Section("Idle in transaction", cols, [
        [str(s["pid"]), cell(s["user"]), cell(s["application"]), s["client"], age(s["xact_age_s"]),
         age(s["state_age_s"]), s["query"]] for s in doc["idle_in_transaction_sessions"]]))
    out.append(Section("Waiting on a lock", ("pid", "user", "application", "waiting", "wait event", "query"), [
        [str(s["pid"]), cell(s["user"]), cell(s["application"]), age(s["state_age_s"]), cell(s["wait_event"]),
         s["query"]] for s in doc["waiting_sessions"]]))
    return out
