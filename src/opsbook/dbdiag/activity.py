"""``activity``: queries running longer than a threshold, longest first, and the longest of all."""

from __future__ import annotations

from typing import Any

from .base import MONITOR, Options, Query, Section, age, cell, hidden_notes, query_text, seconds

NAME = "activity"
TITLE = "Long-running queries"
NEEDS = MONITOR

_LONGEST = """
SELECT max(extract(epoch FROM clock_timestamp() - query_start)) AS longest_s, count(*) AS active
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
"""
_RUNNING = """
SELECT pid, usename AS "user", application_name AS application, coalesce(host(client_addr), 'local') AS client,
       wait_event_type, wait_event, extract(epoch FROM clock_timestamp() - query_start) AS running_s,
       extract(epoch FROM clock_timestamp() - xact_start) AS xact_age_s, query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
  AND query_start < clock_timestamp() - make_interval(secs => %s)
ORDER BY query_start LIMIT %s
"""


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    head = await q.one(_LONGEST)
    rows = await q.rows(_RUNNING, [opts.longer_than, opts.limit])
    return {
        "longer_than_s": opts.longer_than, "active": head["active"], "notes": await hidden_notes(q),
        "longest_s": seconds(head["longest_s"]) or 0.0,
        "queries": [{"pid": r["pid"], "user": r["user"], "application": r["application"], "client": r["client"],
                     "wait_event": f"{r['wait_event_type']}:{r['wait_event']}" if r["wait_event"] else None,
                     "running_s": seconds(r["running_s"]), "xact_age_s": seconds(r["xact_age_s"]),
                     "query": query_text(r["query"])} for r in rows],
    }


def sections(doc: dict[str, Any]) -> list[Section]:
    rows = [[str(r["pid"]), cell(r["user"]), cell(r["application"]), age(r["running_s"]), cell(r["wait_event"]),
             r["query"]] for r in doc["queries"]]
    return [Section(f"Running longer than {age(doc['longer_than_s'])} ({doc['active']} active, longest "
                    f"{age(doc['longest_s'])})", ("pid", "user", "application", "running", "wait event", "query"),
                    rows, notes=doc.get("notes") or [])]
