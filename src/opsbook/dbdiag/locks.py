"""``locks``: the blocking tree. Who blocks whom (pg_blocking_pids), since when, running what.

Roots are the sessions that block others without waiting themselves: usually the one to look at
(an idle-in-transaction session holding a row lock is the classic)."""

from __future__ import annotations

from typing import Any

from .base import MONITOR, Options, Query, Section, age, cell, hidden_notes, query_text, seconds

NAME = "locks"
TITLE = "Blocking locks"
NEEDS = MONITOR

MAX_SESSIONS = 500
_TREE = """
WITH blocked AS (
  SELECT pid, pg_blocking_pids(pid) AS blocked_by FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0
  LIMIT %(n)s
), involved AS (
  SELECT pid FROM blocked UNION SELECT unnest(blocked_by) FROM blocked
)
SELECT a.pid, a.usename AS "user", a.application_name AS application, a.state, a.wait_event_type, a.wait_event,
       coalesce(b.blocked_by, '{}') AS blocked_by,
       extract(epoch FROM clock_timestamp() - a.state_change) AS state_age_s,
       extract(epoch FROM clock_timestamp() - a.xact_start) AS xact_age_s, a.query,
       (SELECT string_agg(DISTINCT l.mode, ',') FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) AS waiting_for
FROM pg_stat_activity a JOIN involved i ON i.pid = a.pid LEFT JOIN blocked b ON b.pid = a.pid
ORDER BY a.xact_start NULLS LAST LIMIT %(n)s
"""


async def collect(q: Query, opts: Options) -> dict[str, Any]:
    rows = await q.rows(_TREE, {"n": MAX_SESSIONS})  # type: ignore[arg-type]
    sessions = {r["pid"]: {
        "pid": r["pid"], "user": r["user"], "application": r["application"], "state": r["state"],
        "blocked_by": list(r["blocked_by"]), "waiting_for": r["waiting_for"],
        "since_s": seconds(r["state_age_s"]) if r["blocked_by"] else seconds(r["xact_age_s"]),
        "xact_age_s": seconds(r["xact_age_s"]), "query": query_text(r["query"])} for r in rows}
    blocked = [s for s in sessions.values() if s["blocked_by"]]
    roots = [s for s in sessions.values() if not s["blocked_by"]]
    return {"blocked": len(blocked), "roots": [s["pid"] for s in roots],
            "sessions": list(sessions.values())[: max(opts.limit * 5, 50)], "notes": await hidden_notes(q)}


def tree(doc: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, session) in tree order: each root, then who waits on it, then who waits on those."""
    by_pid = {s["pid"]: s for s in doc["sessions"]}
    children: dict[int, list[int]] = {}
    for s in doc["sessions"]:
        for b in s["blocked_by"]:
            children.setdefault(b, []).append(s["pid"])
    out: list[tuple[int, dict[str, Any]]] = []
    seen: set[int] = set()

    def walk(pid: int, depth: int) -> None:
        if pid in seen or pid not in by_pid:  # a lock cycle (a deadlock about to be broken) ends here
            return
        seen.add(pid)
        out.append((depth, by_pid[pid]))
        for c in children.get(pid, []):
            walk(c, depth + 1)

    for pid in doc["roots"]:
        walk(pid, 0)
    for s in doc["sessions"]:  # members of a cycle have no root
        walk(s["pid"], 0)
    return out


def sections(doc: dict[str, Any]) -> list[Section]:
    rows = [["  " * d + ("└ " if d else "") + str(s["pid"]), cell(s["user"]), cell(s["application"]),
             cell(s["state"]), ", ".join(map(str, s["blocked_by"])) or "-", age(s["since_s"]), s["query"]]
            for d, s in tree(doc)]
    return [Section(f"Blocking tree ({doc['blocked']} blocked)",
                    ("pid", "user", "application", "state", "blocked by", "since", "query"), rows,
                    empty="no session is waiting on another's lock", notes=doc.get("notes") or [])]
