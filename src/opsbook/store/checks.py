"""Owner of check_results, check_state and check_flips: their migrations, their SQL (both
dialects) and the typed functions everyone else calls. (rollup.py owns the rollups made from
check_results, and reads and prunes raw results for them.)

Every function takes the transaction it runs in (``Store.transaction()`` / ``Store.read()``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..errors import IntegrityViolation, StoreError
from ..results import CheckResult
from .db import Tx, load_json, parse_ts, ts_reader
from .windows import window_counts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "check results, state, flips and runs", [
        """CREATE TABLE check_results (
            id {id},
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            ok {bool} NOT NULL,
            duration_ms DOUBLE PRECISION NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            started_at {ts} NOT NULL,
            finished_at {ts} NOT NULL,
            result {json} NOT NULL)""",
        "CREATE INDEX ix_check_results_check_time ON check_results (check_name, env, finished_at)",
        # one row per (check, env): the current status and since when; updated by compare-and-set
        """CREATE TABLE check_state (
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            since {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            last_result_id {bigint},
            last_error {json},
            last_error_at {ts},
            PRIMARY KEY (check_name, env))""",
        # a status change is a row: what it was, what it became, when, and the result that did it
        """CREATE TABLE check_flips (
            id {id},
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            from_status TEXT,
            to_status TEXT NOT NULL,
            at {ts} NOT NULL,
            result_id {bigint},
            summary TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_check_flips_check_at ON check_flips (check_name, env, at)",
    ]),
    (40, "check history rollups, their watermarks, the API audit log", [
        # pruning raw results and aggregating "everything since" need time order over all checks
        "CREATE INDEX ix_check_results_finished ON check_results (finished_at)",
    ]),
    # an incident's timeline reads every check's flips in a time window (ops/timeline.py)
    (2, "check flips by time", [
        "CREATE INDEX ix_check_flips_at ON check_flips (at)",
    ]),
]

TABLES: tuple[str, ...] = ("check_results", "check_state", "check_flips")


@dataclass(frozen=True)
class Flip:
    check: str
    env: str
    from_status: str | None
    to_status: str
    at: datetime
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "env": self.env, "from": self.from_status, "to": self.to_status,
            "at": self.at.isoformat(), "summary": self.summary,
        }


@dataclass(frozen=True)
class StoredState:
    check: str
    env: str
    status: str
    since: datetime
    updated_at: datetime
    last_error: dict[str, Any] | None


_RESULT_INSERT = (
    "INSERT INTO check_results (check_name, env, kind, status, ok, duration_ms, summary, started_at, "
    "finished_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)

# -- writes --------------------------------------------------------------------------------------


def record_results(tx: Tx, results: list[CheckResult]) -> list[Flip]:
    """Store results and update each check's state; returns the status flips they caused.

    Batched: the results go in with one (pipelined) executemany, the current states come
    back with one SELECT, and states that did not change are updated with one executemany.
    Only changed states take the per-row compare-and-set path."""
    if not results:
        return []
    db = tx.db
    out: list[Flip] = []
    ids = tx.insert_many_returning_ids(_RESULT_INSERT, [
        (r.name, r.env or "", r.kind, r.status, r.ok, r.duration_ms, r.summary,
         db.ts(r.started_at), db.ts(r.finished_at), db.json(r.to_dict()))
        for r in results
    ])
    envs = sorted({r.env or "" for r in results})
    marks = ", ".join("?" for _ in envs)
    current = {
        (name, env): status
        for name, env, status in tx.all(
            f"SELECT check_name, env, status FROM check_state WHERE env IN ({marks})", envs)
    }
    same_ok: list[tuple[Any, ...]] = []
    same_err: list[tuple[Any, ...]] = []
    for r, rid in zip(results, ids, strict=True):
        key = (r.name, r.env or "")
        err = _error_of(r)
        if current.get(key) == r.status:
            if err is None:  # the last error is kept after recovery: users look for it
                same_ok.append((db.ts(r.finished_at), rid, r.name, r.env or ""))
            else:
                same_err.append((db.ts(r.finished_at), rid, db.json(err), db.ts(r.finished_at),
                                 r.name, r.env or ""))
            continue
        flip = _record_state(tx, r, rid, err)
        if flip:
            out.append(flip)
        current[key] = r.status
    if same_ok:
        tx.execute_many(
            "UPDATE check_state SET updated_at = ?, last_result_id = ? WHERE check_name = ? AND env = ?",
            same_ok)
    if same_err:
        tx.execute_many(
            "UPDATE check_state SET updated_at = ?, last_result_id = ?, last_error = ?, "
            "last_error_at = ? WHERE check_name = ? AND env = ?", same_err)
    return out


def _error_of(r: CheckResult) -> dict[str, Any] | None:
    if r.status == "error":
        return r.error
    if r.status == "fail":
        return {"type": "AssertionFailed", "message": r.summary, "hint": r.hint, "retryable": True}
    return None


def _record_state(tx: Tx, r: CheckResult, rid: int, err: dict[str, Any] | None) -> Flip | None:
    db = tx.db
    env = r.env or ""
    now = db.ts(r.finished_at)
    err_cols = ", last_error = ?, last_error_at = ?" if err else ""
    err_vals: tuple[Any, ...] = (db.json(err), now) if err else ()
    for _ in range(5):  # compare-and-set: retry when another writer changed the row under us
        cur = tx.one("SELECT status FROM check_state WHERE check_name = ? AND env = ?", (r.name, env))
        if cur is None:
            try:
                with tx.savepoint():
                    tx.execute(
                        "INSERT INTO check_state (check_name, env, status, since, updated_at, last_result_id, "
                        "last_error, last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (r.name, env, r.status, now, now, rid, db.json(err), now if err else None))
            except IntegrityViolation:
                continue
            return _flip(tx, r, None, rid)
        old = cur[0]
        if old == r.status:
            tx.execute(f"UPDATE check_state SET updated_at = ?, last_result_id = ?{err_cols} "
                       "WHERE check_name = ? AND env = ?", (now, rid, *err_vals, r.name, env))
            return None
        changed = tx.execute(
            f"UPDATE check_state SET status = ?, since = ?, updated_at = ?, last_result_id = ?{err_cols} "
            "WHERE check_name = ? AND env = ? AND status = ?",
            (r.status, now, now, rid, *err_vals, r.name, env, old)).rowcount
        if changed:
            return _flip(tx, r, old, rid)
    raise StoreError(f"could not update the state of {r.name}: too much contention")


def _flip(tx: Tx, r: CheckResult, old: str | None, rid: int) -> Flip:
    tx.execute("INSERT INTO check_flips (check_name, env, from_status, to_status, at, result_id, summary) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (r.name, r.env or "", old, r.status, tx.db.ts(r.finished_at), rid, r.summary))
    return Flip(r.name, r.env or "", old, r.status, r.finished_at, r.summary)


def prune_flips(tx: Tx, before: Any) -> int:
    """Delete status changes older than ``before`` (a dialect timestamp); returns rows deleted."""
    return int(tx.execute("DELETE FROM check_flips WHERE at < ?", (before,)).rowcount)


# -- reads ---------------------------------------------------------------------------------------


def states(tx: Tx, env: str | None = None, *, ordered: bool = True) -> list[StoredState]:
    sql = "SELECT check_name, env, status, since, updated_at, last_error FROM check_state"
    params: tuple[Any, ...] = ()
    if env is not None:
        sql, params = sql + " WHERE env = ?", (env,)
    rows = tx.all(sql + (" ORDER BY check_name" if ordered else ""), params)
    return [StoredState(n, e, s, parse_ts(since), parse_ts(upd), load_json(err))
            for n, e, s, since, upd, err in rows]


def statuses(tx: Tx, env: str) -> dict[str, str]:
    """check -> its current status, in one environment."""
    return {c: s for c, s in tx.all("SELECT check_name, status FROM check_state WHERE env = ?", (env,))}


def history(tx: Tx, check: str, env: str | None = None, limit: int = 50) -> list[CheckResult]:
    sql = "SELECT result FROM check_results WHERE check_name = ?"
    params: tuple[Any, ...] = (check,)
    if env is not None:
        sql, params = sql + " AND env = ?", (check, env)
    rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [CheckResult.from_dict(load_json(r[0])) for r in rows]


def flips(tx: Tx, check: str | None = None, limit: int = 100) -> list[Flip]:
    sql = "SELECT check_name, env, from_status, to_status, at, summary FROM check_flips"
    params: tuple[Any, ...] = ()
    if check is not None:
        sql, params = sql + " WHERE check_name = ?", (check,)
    rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [Flip(n, e, f, t, parse_ts(at), s) for n, e, f, t, at, s in rows]


class WindowFlip(NamedTuple):
    """A status change in a time window (``Flip``'s fields), with its row id and the result that
    caused it (for a change to a bad status: that result's assertions and error, while the result
    is kept). A tuple: an incident's timeline reads thousands, and a frozen dataclass took twice
    as long to build."""

    check: str
    env: str
    from_status: str | None
    to_status: str
    at: datetime
    summary: str
    id: int
    result_id: int | None
    result: dict[str, Any] | None


# a status change for a timeline: (at, id, check, env, from_status, to_status, summary, result_id, the
# failed result's [assertions, error] as JSON text, None when no result was read)
FlipLine = tuple[datetime, int, str, str, str | None, str, str, int | None, str | None]


def flip_lines_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[FlipLine]:
    """Status changes at ``start`` .. ``end``, newest first, at most ``limit``, as plain tuples (an
    incident's timeline reads thousands: tuples straight from the rows, the documents left as text
    so that the caller decodes each distinct failure once). A change to a bad status comes with the
    ``assertions`` and ``error`` of the result that caused it (None when the result was pruned, and
    for changes to pass or warn). Only those two fields are read out of the document, in SQL:
    decoding whole documents (observations, bodies) was most of a timeline's time. The result is
    looked up per flip (a subquery, not a join: PostgreSQL's planner hashed the whole results
    table for a join, 15 of a timeline's 37 ms)."""
    db = tx.db
    doc = ("json_extract(r.result, '$.assertions', '$.error')" if db.dialect == "sqlite" else
           "jsonb_build_array(r.result -> 'assertions', r.result -> 'error')::text")
    rows = tx.all("SELECT f.at, f.id, f.check_name, f.env, f.from_status, f.to_status, f.summary, f.result_id, "
                  f"CASE WHEN f.to_status NOT IN ('pass', 'warn') THEN (SELECT {doc} FROM check_results r "
                  "WHERE r.id = f.result_id) END "
                  "FROM check_flips f WHERE f.at >= ? AND f.at <= ? ORDER BY f.at DESC, f.id DESC LIMIT ?",
                  (db.ts(start), db.ts(end), limit))
    if db.dialect == "postgresql":
        return rows  # timestamptz arrive as aware datetimes
    iso = ts_reader(db.dialect)
    return [(iso(at), i, n, e, f, t, s, rid, doc) for at, i, n, e, f, t, s, rid, doc in rows]


def flips_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[WindowFlip]:
    """``flip_lines_between`` as ``WindowFlip``s, the documents decoded to ``{"assertions", "error"}``."""
    return [WindowFlip(n, e, f, t, at, s, i, rid, failure(doc))
            for at, i, n, e, f, t, s, rid, doc in flip_lines_between(tx, start, end, limit)]


def failure(doc: str | None) -> dict[str, Any] | None:
    """A ``FlipLine``'s document as ``{"assertions": ..., "error": ...}``."""
    if doc is None:
        return None
    assertions, error = json.loads(doc)
    return {"assertions": assertions, "error": error}


def count_flips_between(tx: Tx, start: datetime, end: datetime) -> int:
    r = tx.one("SELECT count(*) FROM check_flips WHERE at >= ? AND at <= ?", (tx.db.ts(start), tx.db.ts(end)))
    return int(r[0]) if r else 0


def totals_between(tx: Tx, start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, int]]:
    """(check, env) -> (results, results not ok) finished in (start, end], the span SLOs count."""
    db = tx.db
    rows = tx.all("SELECT check_name, env, count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM check_results "
                  "WHERE finished_at > ? AND finished_at <= ? GROUP BY check_name, env",
                  (db.ts(start), db.ts(end)))
    return {(n, e): (int(c), int(bad or 0)) for n, e, c, bad in rows}


def last_failure_between(tx: Tx, check: str, env: str, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The newest result document that did not pass, finished at ``start`` .. ``end``."""
    db = tx.db
    row = tx.one("SELECT result FROM check_results WHERE check_name = ? AND env = ? AND ok = ? "
                 "AND finished_at >= ? AND finished_at <= ? ORDER BY finished_at DESC, id DESC LIMIT 1",
                 (check, env, False, db.ts(start), db.ts(end)))
    return load_json(row[0]) if row else None


def result_page(tx: Tx, check: str, env: str, limit: int = 50,
                before: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(store id, result document) newest first; ``before`` is the id cursor."""
    sql = "SELECT id, result FROM check_results WHERE check_name = ? AND env = ?"
    params: tuple[Any, ...] = (check, env)
    if before is not None:
        sql, params = sql + " AND id < ?", (*params, before)
    return [(int(i), load_json(r)) for i, r in tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))]


def last_failure(tx: Tx, check: str, env: str) -> dict[str, Any] | None:
    """The newest stored result document that did not pass."""
    row = tx.one("SELECT result FROM check_results WHERE check_name = ? AND env = ? AND ok = ? "
                 "ORDER BY id DESC LIMIT 1", (check, env, False))
    return load_json(row[0]) if row else None


def latest_documents(tx: Tx) -> dict[tuple[str, str], dict[str, Any]]:
    """(check, env) -> the result document its state last recorded."""
    rows = tx.all("SELECT s.check_name, s.env, r.result FROM check_state s "
                  "JOIN check_results r ON r.id = s.last_result_id")
    return {(n, e): load_json(r) for n, e, r in rows}


# (check, status, ok, duration_ms, finished_at, observations or None)
Recent = tuple[str, str, bool, float, datetime, dict[str, Any] | None]


def recent(tx: Tx, env: str, wanted: dict[str, tuple[int, bool]], now: datetime) -> list[Recent]:
    """The latest ``n`` results at or before ``now`` of each check in ``wanted`` (check -> (n,
    with observations)), newest first per check: one UNION ALL statement per call (each branch an
    index seek on check_results(check_name, env, finished_at)). Callers chunk ``wanted``."""
    db = tx.db
    parts: list[str] = []
    params: list[Any] = []
    for n, (last, observations) in wanted.items():
        # the same column type in every branch: PostgreSQL will not UNION jsonb with text
        col = "result" if observations else f"CAST(NULL AS {db.types()['json']})"
        parts.append(f"SELECT * FROM (SELECT check_name, status, ok, duration_ms, finished_at, {col} AS result "
                     "FROM check_results WHERE check_name = ? AND env = ? AND finished_at <= ? "
                     f"ORDER BY finished_at DESC LIMIT {int(last)}) AS q{len(parts)}")
        params += [n, env, db.ts(now)]
    rows = tx.all(" UNION ALL ".join(parts), params)
    rows.sort(key=lambda r: (r[0], r[4]), reverse=True)
    out: list[Recent] = []
    for name, status, ok, dur, at, result in rows:
        obs = None
        if result is not None:
            obs = (load_json(result) or {}).get("observations") or {}
        out.append((name, status, bool(ok), float(dur), parse_ts(at), obs))
    return out


def window_totals(tx: Tx, env: str, checks: list[str], seconds: float, now: datetime) -> dict[str, tuple[int, int]]:
    """check -> (results, failed results) in (now - seconds, now]: one GROUP BY (callers chunk by 500)."""
    db = tx.db
    marks = ", ".join("?" for _ in checks)
    rows = tx.all(
        "SELECT check_name, count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END) FROM check_results "
        f"WHERE env = ? AND check_name IN ({marks}) AND finished_at > ? AND finished_at <= ? "
        "GROUP BY check_name", [env, *checks, db.ts(now - timedelta(seconds=seconds)), db.ts(now)])
    return {name: (int(total), int(bad or 0)) for name, total, bad in rows}


def slo_counts(tx: Tx, check: str, env: str, faster_than_ms: float | None, starts: list[datetime],
               now: datetime, excluded: list[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    """(results, bad results) in (start, now] for each start, in one query; a result is bad when it
    did not pass or, with ``faster_than_ms``, took that long or longer."""
    bad, bad_params = "CASE WHEN ok THEN 0 ELSE 1 END", []
    if faster_than_ms is not None:
        bad, bad_params = "CASE WHEN ok AND duration_ms < ? THEN 0 ELSE 1 END", [faster_than_ms]
    return window_counts(tx, "check_results", "finished_at", "check_name = ? AND env = ?", [check, env],
                         bad, bad_params, starts, now, excluded)
