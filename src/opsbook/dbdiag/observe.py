"""The postgres check's diagnostic observations, from the reports they come from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import activity, connections, locks, replication, vacuum
from .base import Options, run

if TYPE_CHECKING:
    import psycopg

OBSERVATIONS: dict[str, str] = {
    "connections.idle_in_transaction": "sessions idle in a transaction (diagnostics: true)",
    "connections.waiting": "sessions waiting on a lock (diagnostics: true)",
    "locks.blocked": "sessions blocked by another's lock (diagnostics: true)",
    "activity.longest_s": "seconds the longest running query has run (diagnostics: true)",
    "replication.max_lag_s": "largest replica replay lag in seconds, 0 without replicas (diagnostics: true)",
    "vacuum.wraparound_pct": "oldest database's transaction id age, % of the way to wraparound (diagnostics: true)",
    "diagnostics_problems": "the reports that could not run and why, when any (diagnostics: true)",
}
_FROM = ((connections, ("idle_in_transaction", "waiting")), (locks, ("blocked",)), (activity, ("longest_s",)),
         (replication, ("max_lag_s",)), (vacuum, ("wraparound_pct",)))


async def observe(conn: psycopg.AsyncConnection[Any], timeout_ms: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{report: {observation: value}} and the problems of reports that could not run (their
    observations are then missing, so an assertion on them fails saying so)."""
    opts = Options(limit=1, timeout_ms=timeout_ms)
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for module, keys in _FROM:
        doc = await run(conn, module, opts)
        if doc["status"] != "ok":
            problems.append(f"{module.NAME}: {doc.get('reason')}")
            continue
        out[module.NAME] = {k: doc[k] for k in keys}
    return out, problems
