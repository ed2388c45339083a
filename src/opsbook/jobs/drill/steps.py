"""The verification steps of a drill: each is ``run(ctx) -> StepResult`` over a DrillContext.

``steps_for`` lists what a drill's ``verify:`` and ``app:`` ask for, in report order; the steps
that need something outside jobs/ (an integrity suite, readiness checks, a smoke suite) call
``ctx.services``, which the caller passes in.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ...checks._sql import rows_observations
from ...config.backups import Drill, SqlCheck
from ...config.secrets import redactor
from ...errors import QueryFailed
from ..backup.manifest import Manifest
from .app import App
from .context import DrillContext, Step
from .result import StepResult, TableCount, Verification


def resolve_tables(m: Manifest, wanted: Any) -> tuple[list[str], list[str]]:
    if wanted == "all":
        return sorted(m.tables), []
    found, unknown = [], []
    for w in wanted:
        hits = [w] if w in m.tables else [t for t in m.tables if t.split(".", 1)[-1] == w]
        if len(hits) == 1:
            found.append(hits[0])
        else:
            unknown.append(w)
    return found, unknown


def row_counts(ctx: DrillContext) -> StepResult:
    """Every table's rows (and max primary key) against the manifest's snapshot."""
    m = ctx.manifest
    tables, unknown = resolve_tables(m, ctx.spec.verify.row_counts)
    counts: list[TableCount] = []
    for t in tables:
        snap = m.tables[t]
        actual, max_pk = ctx.db.count(t, snap)
        expected = snap.rows if snap.data else 0
        counts.append(TableCount(t, expected, actual, snap.max_pk if snap.data else None,
                                 max_pk if snap.data else None))
    bad = [c for c in counts if not c.ok]
    summary = (f"{len(tables)} tables match the snapshot" if not bad and not unknown else
               "; ".join([f"{c.table}: expected {c.expected} rows, found "
                          f"{'no table' if c.actual is None else c.actual}"
                          + ("" if c.actual != c.expected else f" (max pk {c.actual_max_pk} != {c.expected_max_pk})")
                          for c in bad] + [f"{u}: not in the backup's snapshot" for u in unknown]))
    return StepResult([Verification("row_counts", not bad and not unknown, summary,
                                    {"mismatched": [c.table for c in bad], "unknown": unknown})], counts)


def judge_freshness(table: str, column: str, max_age: float, newest: Any, m: Manifest) -> Verification:
    if newest is None:
        return Verification("freshness", False, f"{table}.{column} has no values")
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    if isinstance(newest, datetime) and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)  # a timestamp without zone is taken as UTC
    if not isinstance(newest, datetime):
        return Verification("freshness", False, f"{table}.{column} is not a timestamp ({type(newest).__name__})")
    age = (m.created - newest).total_seconds()
    ok = age <= max_age
    return Verification("freshness", ok,
                        f"newest {table}.{column} is {age / 3600:.1f}h older than the backup "
                        f"({'within' if ok else 'beyond'} {max_age / 3600:g}h)",
                        {"newest": newest.isoformat(), "age_s": round(age, 1), "max_age_s": max_age})


def freshness(ctx: DrillContext) -> StepResult:
    """The newest value of ``verify.freshness``'s column, against the backup's time."""
    f = ctx.spec.verify.freshness
    assert f is not None
    try:
        newest = ctx.db.newest(f.table, f.column)
    except QueryFailed as e:
        return StepResult([Verification("freshness", False, str(e))])
    return StepResult([judge_freshness(f.table, f.column, f.max_age, newest, ctx.manifest)])


def judge(check: SqlCheck, obs: dict[str, Any]) -> Verification:
    outcomes = [a.evaluate(obs) for a in check.expect]
    ok = all(o.ok for o in outcomes)
    summary = ", ".join(f"{o.expr} ({'ok' if o.ok else f'actual {o.actual!r}'})" for o in outcomes)
    return Verification(f"sql:{check.name}", ok, summary, {"value": obs.get("value")})


def sql_checks(ctx: DrillContext) -> StepResult:
    """Each ``verify.sql`` query, judged by its ``expect:``."""
    out = StepResult()
    for c in ctx.spec.verify.sql:
        try:
            cols, rows = ctx.db.query(c.query)
        except QueryFailed as e:
            out.checks.append(Verification(f"sql:{c.name}", False, f"query failed: {e}"))
            continue
        out.checks.append(judge(c, rows_observations(cols, rows, len(rows))))
    return out


def integrity(ctx: DrillContext) -> StepResult:
    """The integrity suite ``verify.integrity``, run by the injected ``services.integrity``."""
    suite = ctx.spec.verify.integrity
    assert suite is not None
    if ctx.db.kind == "postgres":
        r = ctx.services.integrity(suite, dsn=ctx.db.target)
    else:
        r = ctx.services.integrity(suite, sqlite_path=ctx.db.target)
    summary = ", ".join(f"{v} {k}" for k, v in r.counts.items() if v) or "no checks"
    return StepResult([Verification(f"integrity:{suite}", r.ok, summary, {"result": r.to_dict()})])


def app_ready(ctx: DrillContext) -> StepResult:
    """Start the app against the restored database (stopped at the end of the phase) and wait until
    its ``ready:`` checks pass; a start that never gets ready stops the drill's later steps."""
    app = ctx.spec.app
    assert app is not None
    proc = App(app, ctx.db.target, ctx.base_dir)
    ctx.defer(proc.stop)
    deadline = time.monotonic() + app.timeout
    summary, ok = "", False
    while time.monotonic() < deadline:
        gone = proc.exited()
        if gone is not None:
            summary = gone
            break
        if app.ready:
            waiting = [r for r in ctx.services.ready(app.ready) if not r.ok]
            if waiting:
                summary = f"{waiting[0].name}: {waiting[0].summary}"
                time.sleep(0.5)
                continue
        ok = True
        summary = f"ready: {', '.join(app.ready)}" if app.ready else "started"
        break
    else:
        summary = f"not ready within {app.timeout:g}s; last: {summary}"
    return StepResult([Verification("app:ready", ok, redactor.text(summary))], stop=not ok)


def app_smoke(ctx: DrillContext) -> StepResult:
    """The smoke suite ``app.smoke`` against the running app, run by the injected ``services.smoke``."""
    app = ctx.spec.app
    assert app is not None and app.smoke is not None
    s = ctx.services.smoke(app.smoke, app.base_url)
    return StepResult([Verification(f"app:smoke:{app.smoke}", s.ok,
                                    f"smoke suite {app.smoke}: {'passed' if s.ok else 'failed'}",
                                    {"result": s.to_dict()})])


def sqlite_integrity_check(rows: list[Any]) -> Step:
    """The restored file's ``PRAGMA integrity_check`` (run by the restore) as the first verification."""
    def run(_ctx: DrillContext) -> StepResult:
        ok = rows == [("ok",)]
        return StepResult([Verification("integrity_check", ok, "ok" if ok else "; ".join(r[0] for r in rows[:5]))])

    return Step("integrity_check", "verify", run)


def steps_for(d: Drill) -> list[Step]:
    """What ``verify:`` and ``app:`` ask for, in report order."""
    steps = [Step("row_counts", "verify", row_counts)]
    if d.verify.freshness is not None:
        steps.append(Step("freshness", "verify", freshness))
    if d.verify.sql:
        steps.append(Step("sql", "verify", sql_checks))
    if d.verify.integrity:
        steps.append(Step("integrity", "verify", integrity))
    if d.app is not None:
        steps.append(Step("app_ready", "app_ready", app_ready))
        if d.app.smoke:
            steps.append(Step("app_smoke", "app_ready", app_smoke))
    return steps
