"""``opsbook db``: run the diagnostics reports against a postgres resource, record snapshots, and
cancel or terminate sessions under guard rails (the CLI, the daemon and the API call these).

Guard rails of remediation: opsbook's own connection is never hit; other opsbook sessions,
superusers' sessions and replication (walsender) sessions only with ``force``; server processes
(autovacuum, background workers) never. Each hit is re-checked when it is signalled (same pid,
same backend start, and for the idle-in-transaction form still idle since the same moment), so a
session that moved on, or a new one reusing the pid, is left alone. Every run is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..checks.postgres import _connect  # one place maps libpq's connection errors to hints
from ..config.load import Config
from ..config.references import missing
from ..config.resources import PostgresResource
from ..config.secrets import redactor, reveal
from ..dbdiag import REPORTS
from ..dbdiag.base import Options, query_text, run
from ..errors import UsageError
from ..store import Store, db_snapshots
from ..store import audit as audit_rows

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10.0


def resource(cfg: Config, name: str) -> PostgresResource:
    res = cfg.resources.get(name)
    if res is None:
        pg = [n for n, r in cfg.resources.items() if isinstance(r, PostgresResource)]
        msg, hint = missing("postgres resource", name, pg, "postgres resources")
        raise UsageError(msg, hint=hint)
    if not isinstance(res, PostgresResource):
        raise UsageError(f"resource {name!r} is a {res.kind} resource, not postgres",
                         hint="opsbook db works on resources of kind: postgres")
    return res


async def _open(res: PostgresResource, timeout: float) -> psycopg.AsyncConnection[Any]:
    dsn = reveal(res.dsn, "dsn")
    assert dsn is not None
    conn = await _connect(dsn, timeout)
    # remediation's listing and signals get a deadline too; each report sets its own (SET LOCAL)
    await conn.execute("SET statement_timeout = 10000")
    return conn


def check_names(names: Sequence[str]) -> list[str]:
    for n in names:
        if n not in REPORTS:
            msg, hint = missing("report", n, REPORTS)
            raise UsageError(msg, hint=hint)
    return list(names)


async def acollect(res: PostgresResource, name: str, reports: Sequence[str], opts: Options,
                   now: datetime | None = None) -> dict[str, Any]:
    """``opsbook.db-report/1``: each asked report's document under ``reports``, in REPORTS order."""
    conn = await _open(res, CONNECT_TIMEOUT)
    try:
        docs = {n: await run(conn, REPORTS[n], opts) for n in REPORTS if n in reports}
        version = conn.info.server_version
    finally:
        await conn.close()
    return {"schema": "opsbook.db-report/1", "resource": name, "taken_at": (now or datetime.now(UTC)).isoformat(),
            "server_version": f"{version // 10000}.{version % 10000}", "reports": redactor.redact(docs)}


def collect(cfg: Config, name: str, reports: Sequence[str], opts: Options | None = None) -> dict[str, Any]:
    return asyncio.run(acollect(resource(cfg, name), name, check_names(reports), opts or Options()))


def summary(doc: dict[str, Any]) -> str:
    """One line for a snapshot (the incident timeline shows it)."""
    r = doc.get("reports") or {}
    parts = []
    c = r.get("connections") or {}
    if c.get("status") == "ok":
        parts.append(f"{c['used']}/{c['max']} connections, {c['idle_in_transaction']} idle in transaction, "
                     f"{c['waiting']} waiting")
    if (r.get("locks") or {}).get("status") == "ok":
        parts.append(f"{r['locks']['blocked']} blocked")
    if (r.get("activity") or {}).get("status") == "ok":
        parts.append(f"longest query {r['activity']['longest_s']:.0f}s")
    bad = [n for n, d in r.items() if d.get("status") != "ok"]
    if bad:
        parts.append(f"not available: {', '.join(bad)}")
    return "; ".join(parts)


def record(store: Store, cfg: Config, doc: dict[str, Any], by: str, now: datetime) -> int:
    with store.transaction() as tx:
        return db_snapshots.insert(tx, resource=doc["resource"], env=cfg.env or "", taken_at=now, taken_by=by,
                                   summary=summary(doc), doc=doc)


def snapshot(cfg: Config, store: Store, name: str, now: datetime) -> dict[str, Any]:
    """The scheduled unit (``serve.schedules.db_snapshots``): every report, recorded."""
    doc = collect(cfg, name, list(REPORTS))
    sid = record(store, cfg, doc, "serve", now)
    return {"ok": True, "status": "pass", "kind": "db_snapshot", "name": name, "snapshot": sid,
            "note": f"db snapshot {sid} of {name}: {summary(doc)}"}


def get_snapshot(store: Store, snapshot_id: int) -> db_snapshots.Snapshot:
    with store.read() as tx:
        got = db_snapshots.get(tx, snapshot_id)
    if got is None:
        raise UsageError(f"no db snapshot {snapshot_id}", hint="opsbook db snapshots RESOURCE lists them")
    return got


def list_snapshots(store: Store, name: str | None, limit: int = 20) -> list[db_snapshots.Snapshot]:
    with store.read() as tx:
        return db_snapshots.latest(tx, name, limit)


# -- remediation -------------------------------------------------------------------------------

_CANDIDATES = """
SELECT a.pid, a.usename AS "user", a.application_name AS application, coalesce(host(a.client_addr), 'local') AS client,
       a.state, a.backend_type, a.backend_start, a.state_change, a.query,
       extract(epoch FROM now() - a.xact_start) AS xact_age_s, extract(epoch FROM now() - a.state_change) AS idle_s,
       extract(epoch FROM now() - a.query_start) AS query_age_s,
       coalesce(r.rolsuper, false) AS superuser, a.pid = pg_backend_pid() AS own
FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE {cond} ORDER BY a.state_change LIMIT 1000
"""
_IDLE = "a.state LIKE 'idle in transaction%%' AND a.state_change < now() - make_interval(secs => %s)"
_SIGNAL = """
SELECT pg_{action}_backend(pid) AS done FROM pg_stat_activity
WHERE pid = %s AND backend_start = %s AND pid <> pg_backend_pid() {more}
"""


@dataclass
class Session:
    pid: int
    user: str
    application: str
    client: str
    state: str
    age_s: float
    query: str
    backend_start: datetime
    state_change: datetime | None
    skip: str = ""  # why it is not hit; empty: it will be
    result: str = ""  # after execute: cancelled|terminated|gone|refused: ...

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "user": self.user, "application": self.application, "client": self.client,
                "state": self.state, "age_s": round(self.age_s, 3), "query": self.query,
                **({"skipped": self.skip} if self.skip else {}), **({"result": self.result} if self.result else {})}


@dataclass
class Plan:
    resource: str
    action: str  # cancel | terminate
    selector: dict[str, Any]
    force: bool
    sessions: list[Session] = field(default_factory=list)

    @property
    def hits(self) -> list[Session]:
        return [s for s in self.sessions if not s.skip]

    @property
    def skipped(self) -> list[Session]:
        return [s for s in self.sessions if s.skip]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "opsbook.db-remediation/1", "resource": self.resource, "action": self.action,
                "selector": self.selector, "force": self.force,
                "hit": [s.to_dict() for s in self.hits], "skipped": [s.to_dict() for s in self.skipped]}


def _why_not(r: dict[str, Any], force: bool) -> str:
    if r["own"]:
        return "opsbook's own connection"
    if r["backend_type"] not in ("client backend", "walsender"):
        return f"a server process ({r['backend_type']})"
    if force:
        return ""
    if r["backend_type"] == "walsender":
        return "a replication session (use --force)"
    if r["superuser"]:
        return "a superuser's session (use --force)"
    if (r["application"] or "").startswith("opsbook"):
        return "an opsbook session (use --force)"
    return ""


async def aplan(res: PostgresResource, name: str, action: str, *, pid: int | None = None,
                idle_longer_than: float | None = None, force: bool = False) -> Plan:
    if action not in ("cancel", "terminate"):
        raise UsageError(f"unknown action {action!r}", hint="cancel or terminate")
    if (pid is None) == (idle_longer_than is None):
        raise UsageError("name one PID, or --idle-in-transaction-longer-than DURATION",
                         hint="opsbook db connections RESOURCE lists the sessions")
    params: list[Any]
    selector: dict[str, Any]
    if pid is not None:
        cond, params, selector = "a.pid = %s", [pid], {"pid": pid}
    else:
        cond, params, selector = _IDLE, [idle_longer_than], {"idle_in_transaction_longer_than_s": idle_longer_than}
    conn = await _open(res, CONNECT_TIMEOUT)
    try:
        cur = await conn.execute(_CANDIDATES.format(cond=cond), params)
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
    finally:
        await conn.close()
    if pid is not None and not rows:
        raise UsageError(f"no session with pid {pid} on {name}", hint=f"opsbook db connections {name} lists them")
    plan = Plan(name, action, selector, force)
    for r in rows:
        idle = pid is None
        # the age that matters: how long it sat idle in the transaction (bulk form), else how long the
        # query has run, the transaction has been open, or the session has been idle
        if idle:
            age = r["idle_s"]
        elif r["state"] == "active":
            age = r["query_age_s"]
        else:
            age = r["xact_age_s"] if r["xact_age_s"] is not None else r["idle_s"]
        plan.sessions.append(Session(
            pid=r["pid"], user=r["user"] or "", application=r["application"] or "", client=r["client"],
            state=r["state"] or "", age_s=float(age or 0), query=query_text(r["query"]),
            backend_start=r["backend_start"], state_change=r["state_change"] if idle else None,
            skip=_why_not(r, force)))
    return plan


async def aexecute(res: PostgresResource, plan: Plan) -> Plan:
    """Signal each hit, re-checked at that moment; each session's ``result`` says what happened."""
    import psycopg

    conn = await _open(res, CONNECT_TIMEOUT)
    try:
        for s in plan.hits:
            more, params = "", [s.pid, s.backend_start]
            if s.state_change is not None:
                more = "AND state LIKE 'idle in transaction%%' AND state_change = %s"
                params.append(s.state_change)
            try:
                cur = await conn.execute(_SIGNAL.format(action=plan.action, more=more), params)
                row = await cur.fetchone()
            except psycopg.Error as e:
                s.result = f"refused: {redactor.text(e.diag.message_primary or str(e))}"
                continue
            if row is None:
                s.result = "gone or changed since it was listed: left alone"
            else:
                s.result = ("cancelled" if plan.action == "cancel" else "terminated") if row[0] else "refused by server"
    finally:
        await conn.close()
    return plan


def audit(store: Store, plan: Plan, *, actor: str, role: str, reason: str, now: datetime, remote: str = "") -> int:
    """The CLI's audit row (the API's is written by web.mutate with the same detail)."""
    with store.transaction() as tx:
        return audit_rows.insert(tx, at=now, actor=actor, role=role, action=f"db.{plan.action}", target=plan.resource,
                                 remote=remote, outcome=outcome(plan), detail=audit_detail(plan, reason))


def outcome(plan: Plan) -> str:
    done = [s for s in plan.hits if s.result in ("cancelled", "terminated")]
    return "ok" if plan.hits and len(done) == len(plan.hits) else ("partial" if done else "none")


def audit_detail(plan: Plan, reason: str) -> dict[str, Any]:
    return {"reason": reason, **{k: v for k, v in plan.to_dict().items() if k != "schema"}}
