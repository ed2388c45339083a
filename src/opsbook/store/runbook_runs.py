"""Owner of runbook_runs, runbook_steps, runbook_approvals and runbook_locks: the immutable
record of a runbook run (ops/runbook.py decides what happens; this module only keeps it).

A run is one row whose status moves by compare-and-set on its ``version``
(``UPDATE ... WHERE id = ? AND version = ? RETURNING``): of two people resuming or approving the
same run, one wins. A step attempt is one row inserted ``running`` and ended once
(``WHERE status = 'running'``); after that it never changes. A lock is one row per name,
taken with ``INSERT ... ON CONFLICT DO NOTHING`` and given back with a ``DELETE`` naming its run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (70, "runbooks: runs, step records, approvals and locks", [
        """CREATE TABLE runbook_runs (
            id {id},
            runbook TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            params {json} NOT NULL,
            operator TEXT NOT NULL,
            environment TEXT,
            incident_id {bigint},
            status TEXT NOT NULL,
            dry_run {bool} NOT NULL,
            started_at {ts} NOT NULL,
            ended_at {ts},
            current_step TEXT,
            waiting {json},
            error TEXT,
            heartbeat_at {ts} NOT NULL,
            version {bigint} NOT NULL DEFAULT 1)""",
        "CREATE INDEX ix_runbook_runs_name ON runbook_runs (runbook, started_at)",
        "CREATE INDEX ix_runbook_runs_status ON runbook_runs (status, heartbeat_at)",
        """CREATE TABLE runbook_steps (
            id {id},
            run_id {bigint} NOT NULL,
            section TEXT NOT NULL,
            idx INTEGER NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            display TEXT NOT NULL,
            target TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            started_at {ts} NOT NULL,
            ended_at {ts},
            exit_code INTEGER,
            output TEXT NOT NULL DEFAULT '',
            output_bytes {bigint} NOT NULL DEFAULT 0,
            observations {json},
            captured {json},
            assertions {json},
            error TEXT,
            actor TEXT,
            decided_at {ts})""",
        "CREATE INDEX ix_runbook_steps_run ON runbook_steps (run_id, id)",
        """CREATE TABLE runbook_approvals (
            id {id},
            run_id {bigint} NOT NULL,
            section TEXT NOT NULL,
            idx INTEGER NOT NULL,
            step TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            decision TEXT,
            decided_by TEXT,
            decided_at {ts},
            reason TEXT)""",
        "CREATE INDEX ix_runbook_approvals_run ON runbook_approvals (run_id, idx)",
        """CREATE TABLE runbook_locks (
            name TEXT PRIMARY KEY,
            run_id {bigint} NOT NULL,
            holder TEXT NOT NULL,
            since {ts} NOT NULL)""",
    ]),
]

TABLES: tuple[str, ...] = ("runbook_runs", "runbook_steps", "runbook_approvals", "runbook_locks")

RUNNING, WAITING = "running", "waiting"
# statuses a run ends in; "interrupted" and "failed" may be resumed, "waiting" continues
FINAL: tuple[str, ...] = ("succeeded", "failed", "interrupted", "aborted", "rolled_back", "rollback_failed")
STEP_STATUSES: tuple[str, ...] = ("ok", "failed", "error", "timeout", "skipped", "dry_run", "acked", "approved",
                                  "rejected")

_RUN = ("id, runbook, content_hash, params, operator, environment, incident_id, status, dry_run, started_at, "
        "ended_at, current_step, waiting, error, heartbeat_at, version")
_STEP = ("id, run_id, section, idx, name, kind, display, target, attempt, status, started_at, ended_at, exit_code, "
         "output, output_bytes, observations, captured, assertions, error, actor, decided_at")
_APPROVAL = ("id, run_id, section, idx, step, requested_by, requested_at, expires_at, decision, decided_by, "
             "decided_at, reason")


@dataclass(frozen=True)
class RunRow:
    id: int
    runbook: str
    content_hash: str
    params: dict[str, Any]  # secret values already ***
    operator: str
    environment: str | None
    incident_id: int | None
    status: str
    dry_run: bool
    started_at: datetime
    ended_at: datetime | None
    current_step: str | None
    waiting: dict[str, Any] | None  # what a waiting run waits for: {kind, section, index, name, ...}
    error: str | None
    heartbeat_at: datetime
    version: int


@dataclass(frozen=True)
class StepRow:
    id: int
    run_id: int
    section: str
    index: int
    name: str
    kind: str  # a step kind, or "checklist"
    display: str
    target: str
    attempt: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    exit_code: int | None
    output: str
    output_bytes: int
    observations: dict[str, Any] | None
    captured: dict[str, str] | None
    assertions: list[dict[str, Any]] | None
    error: str | None
    actor: str | None  # who acknowledged or approved it
    decided_at: datetime | None


@dataclass(frozen=True)
class ApprovalRow:
    id: int
    run_id: int
    section: str
    index: int
    step: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decision: str | None  # approved | rejected | expired; None while pending
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


def _run(r: tuple[Any, ...]) -> RunRow:
    return RunRow(int(r[0]), r[1], r[2], load_json(r[3]), r[4], r[5], int(r[6]) if r[6] is not None else None, r[7],
                  bool(r[8]), parse_ts(r[9]), maybe_ts(r[10]), r[11], load_json(r[12]), r[13], parse_ts(r[14]),
                  int(r[15]))


def _step(r: tuple[Any, ...]) -> StepRow:
    return StepRow(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5], r[6], r[7], int(r[8]), r[9], parse_ts(r[10]),
                   maybe_ts(r[11]), int(r[12]) if r[12] is not None else None, r[13], int(r[14]), load_json(r[15]),
                   load_json(r[16]), load_json(r[17]), r[18], r[19], maybe_ts(r[20]))


def _approval(r: tuple[Any, ...]) -> ApprovalRow:
    return ApprovalRow(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5], parse_ts(r[6]), parse_ts(r[7]), r[8], r[9],
                       maybe_ts(r[10]), r[11])


# -- runs ----------------------------------------------------------------------------------------


def insert_run(tx: Tx, *, runbook: str, content_hash: str, params: dict[str, Any], operator: str,
               environment: str | None, incident_id: int | None, dry_run: bool, now: datetime) -> RunRow:
    db = tx.db
    r = tx.one(f"INSERT INTO runbook_runs (runbook, content_hash, params, operator, environment, incident_id, "
               f"status, dry_run, started_at, heartbeat_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
               f"RETURNING {_RUN}",
               (runbook, content_hash, db.json(params), operator, environment, incident_id, RUNNING, dry_run,
                db.ts(now), db.ts(now)))
    assert r is not None
    return _run(r)


def get_run(tx: Tx, run_id: int) -> RunRow | None:
    r = tx.one(f"SELECT {_RUN} FROM runbook_runs WHERE id = ?", (run_id,))
    return _run(r) if r else None


def move(tx: Tx, run: RunRow, to: str, now: datetime, *, current_step: str | None = None,
         waiting: dict[str, Any] | None = None, error: str | None = None) -> RunRow | None:
    """Compare-and-set: the run goes to ``to`` if it is still at ``run.version``; a final status
    stamps ``ended_at``, running/waiting clear it. None when someone else moved it first."""
    db = tx.db
    ended = db.ts(now) if to in FINAL else None
    r = tx.one(f"UPDATE runbook_runs SET status = ?, ended_at = ?, current_step = COALESCE(?, current_step), "
               f"waiting = ?, error = ?, heartbeat_at = ?, version = version + 1 WHERE id = ? AND version = ? "
               f"RETURNING {_RUN}",
               (to, ended, current_step, db.json(waiting), error, db.ts(now), run.id, run.version))
    return _run(r) if r else None


def at_step(tx: Tx, run_id: int, step: str, now: datetime, version: int | None = None) -> bool:
    """The step the running run is on (no version bump: only its own runner writes this). With
    ``version``, only while the run is still at that version: False when someone moved it (an
    ``abort`` from another terminal), so checking and marking the step is one statement."""
    extra = " AND version = ?" if version is not None else ""
    r = tx.one(f"UPDATE runbook_runs SET current_step = ?, heartbeat_at = ? WHERE id = ? AND status = ?{extra} "
               "RETURNING id", (step, tx.db.ts(now), run_id, RUNNING, *(() if version is None else (version,))))
    return r is not None


def heartbeat(tx: Tx, run_id: int, now: datetime) -> None:
    tx.execute("UPDATE runbook_runs SET heartbeat_at = ? WHERE id = ? AND status = ?",
               (tx.db.ts(now), run_id, RUNNING))


def mark_stale(tx: Tx, now: datetime, older_than: float, run_id: int | None = None) -> list[int]:
    """Running runs whose heartbeat is older than ``older_than`` seconds: their runner died.
    They become ``interrupted`` (compare-and-set on the status) and the step attempt that was
    running becomes ``error``; returns their ids."""
    db = tx.db
    cut = db.ts(now - timedelta(seconds=older_than))
    one = " AND id = ?" if run_id is not None else ""
    params: tuple[Any, ...] = (db.ts(now), "the runner stopped (killed?) while this step ran", RUNNING, cut)
    found = tx.all(f"UPDATE runbook_runs SET status = 'interrupted', ended_at = ?, error = ?, version = version + 1 "
                   f"WHERE status = ? AND heartbeat_at < ?{one} RETURNING id",
                   params + ((run_id,) if run_id is not None else ()))
    ids = [int(r[0]) for r in found]
    tx.execute_many("UPDATE runbook_steps SET status = 'error', ended_at = ?, error = ? "
                    "WHERE run_id = ? AND status = ?",
                    [(db.ts(now), "interrupted: the runner stopped while this step ran", i, RUNNING) for i in ids])
    return ids


def last_done(tx: Tx, names: list[str], environment: str | None) -> dict[str, tuple[RunRow | None, RunRow | None]]:
    """For each runbook: its last succeeded real run (what a due task counts as done) and its
    newest real run still running or waiting, in ``environment`` (None: runs without one). Two
    index seeks per name: the scheduled runbooks are few."""
    out: dict[str, tuple[RunRow | None, RunRow | None]] = {}
    env = environment or ""
    for name in names:
        done = tx.one(f"SELECT {_RUN} FROM runbook_runs WHERE runbook = ? AND status = 'succeeded' AND dry_run = ? "
                      "AND COALESCE(environment, '') = ? ORDER BY ended_at DESC, id DESC LIMIT 1", (name, False, env))
        open_ = tx.one(f"SELECT {_RUN} FROM runbook_runs WHERE runbook = ? AND status IN (?, ?) AND dry_run = ? "
                       "AND COALESCE(environment, '') = ? ORDER BY started_at DESC, id DESC LIMIT 1",
                       (name, RUNNING, WAITING, False, env))
        out[name] = (_run(done) if done else None, _run(open_) if open_ else None)
    return out


def listing(tx: Tx, runbook: str | None, statuses: tuple[str, ...] | None, limit: int) -> list[RunRow]:
    where: list[str] = []
    params: list[Any] = []
    if runbook is not None:
        where.append("runbook = ?")
        params.append(runbook)
    if statuses:
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(statuses)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [_run(r) for r in tx.all(f"SELECT {_RUN} FROM runbook_runs {clause} ORDER BY started_at DESC, id DESC "
                                    "LIMIT ?", (*params, limit))]


# -- step records --------------------------------------------------------------------------------


def start_step(tx: Tx, run_id: int, *, section: str, index: int, name: str, kind: str, display: str,
               target: str, attempt: int, now: datetime, status: str = RUNNING, actor: str | None = None,
               error: str | None = None) -> StepRow:
    """A step attempt's row; ``status`` other than running records one that ends at once
    (skipped, dry_run, acked, approved, rejected)."""
    db = tx.db
    ended = None if status == RUNNING else db.ts(now)
    decided = db.ts(now) if status in ("acked", "approved", "rejected") else None
    r = tx.one(f"INSERT INTO runbook_steps (run_id, section, idx, name, kind, display, target, attempt, status, "
               f"started_at, ended_at, error, actor, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
               f"RETURNING {_STEP}",
               (run_id, section, index, name, kind, display, target, attempt, status, db.ts(now), ended, error,
                actor, decided))
    assert r is not None
    return _step(r)


def end_step(tx: Tx, step_id: int, *, status: str, now: datetime, exit_code: int | None, output: str,
             output_bytes: int, observations: dict[str, Any] | None, captured: dict[str, str] | None,
             assertions: list[dict[str, Any]] | None, error: str | None, actor: str | None = None) -> StepRow | None:
    """Ends a running attempt, once; None when it had ended already (marked interrupted)."""
    db = tx.db
    r = tx.one(f"UPDATE runbook_steps SET status = ?, ended_at = ?, exit_code = ?, output = ?, output_bytes = ?, "
               f"observations = ?, captured = ?, assertions = ?, error = ?, actor = COALESCE(?, actor) "
               f"WHERE id = ? AND status = ? RETURNING {_STEP}",
               (status, db.ts(now), exit_code, output, output_bytes, db.json(observations), db.json(captured),
                db.json(assertions), error, actor, step_id, RUNNING))
    return _step(r) if r else None


def steps(tx: Tx, run_id: int) -> list[StepRow]:
    """Every attempt of a run in the order they happened: one query for the whole record."""
    return [_step(r) for r in tx.all(f"SELECT {_STEP} FROM runbook_steps WHERE run_id = ? ORDER BY id", (run_id,))]


# -- approvals -----------------------------------------------------------------------------------


def request_approval(tx: Tx, run_id: int, *, section: str, index: int, step: str, requested_by: str,
                     now: datetime, ttl: float) -> ApprovalRow:
    db = tx.db
    r = tx.one(f"INSERT INTO runbook_approvals (run_id, section, idx, step, requested_by, requested_at, expires_at) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_APPROVAL}",
               (run_id, section, index, step, requested_by, db.ts(now), db.ts(now + timedelta(seconds=ttl))))
    assert r is not None
    return _approval(r)


def decide(tx: Tx, approval_id: int, decision: str, by: str, now: datetime, reason: str | None) -> ApprovalRow | None:
    """Pending -> approved/rejected/expired, once; None when it had been decided already."""
    r = tx.one(f"UPDATE runbook_approvals SET decision = ?, decided_by = ?, decided_at = ?, reason = ? "
               f"WHERE id = ? AND decision IS NULL RETURNING {_APPROVAL}",
               (decision, by, tx.db.ts(now), reason, approval_id))
    return _approval(r) if r else None


def approvals(tx: Tx, run_id: int) -> list[ApprovalRow]:
    return [_approval(r) for r in tx.all(f"SELECT {_APPROVAL} FROM runbook_approvals WHERE run_id = ? ORDER BY id",
                                         (run_id,))]


# -- locks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockRow:
    name: str
    run_id: int
    holder: str
    since: datetime


def acquire(tx: Tx, name: str, run_id: int, holder: str, now: datetime) -> LockRow | None:
    """Take the lock for ``run_id``: None when taken, else the row of the run holding it. A lock
    held by a run that has ended (or by this run already) is taken over by compare-and-set."""
    db = tx.db
    got = tx.one("INSERT INTO runbook_locks (name, run_id, holder, since) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (name) DO NOTHING RETURNING name", (name, run_id, holder, db.ts(now)))
    if got is not None:
        return None
    r = tx.one("SELECT l.name, l.run_id, l.holder, l.since, r.status FROM runbook_locks l "
               "LEFT JOIN runbook_runs r ON r.id = l.run_id WHERE l.name = ?", (name,))
    if r is None:  # released in between
        return acquire(tx, name, run_id, holder, now)
    held = LockRow(r[0], int(r[1]), r[2], parse_ts(r[3]))
    if held.run_id != run_id and r[4] in (RUNNING, WAITING):
        return held
    took = tx.one("UPDATE runbook_locks SET run_id = ?, holder = ?, since = ? WHERE name = ? AND run_id = ? "
                  "RETURNING name", (run_id, holder, db.ts(now), name, held.run_id))
    return None if took is not None else acquire(tx, name, run_id, holder, now)


def release(tx: Tx, name: str, run_id: int) -> None:
    tx.execute("DELETE FROM runbook_locks WHERE name = ? AND run_id = ?", (name, run_id))


def lock_holder(tx: Tx, name: str) -> LockRow | None:
    r = tx.one("SELECT name, run_id, holder, since FROM runbook_locks WHERE name = ?", (name,))
    return LockRow(r[0], int(r[1]), r[2], parse_ts(r[3])) if r else None


def locks_of(tx: Tx, run_id: int) -> list[str]:
    return [r[0] for r in tx.all("SELECT name FROM runbook_locks WHERE run_id = ? ORDER BY name", (run_id,))]
