"""Owner of replay_runs and replay_events: the record of an event replay (ops/replay.py decides
what happens; this module only keeps it).

A run is one row whose status moves by compare-and-set on its ``version``; while it runs, only
the runner named in ``runner`` (host:pid) writes its progress (``WHERE status = 'running' AND
runner = ?``), so a runner that was taken for dead and comes back writes nothing. Each event's
outcome is one row, inserted in batches together with the run's counts and cursor in one
transaction: what the record says was delivered was delivered, and a resume sends none of it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .db import Tx, load_json, maybe_ts, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (95, "replay: runs and per-event outcomes", [
        """CREATE TABLE replay_runs (
            id {id},
            name TEXT NOT NULL,
            since_at {ts},
            until_at {ts},
            status TEXT NOT NULL,
            dry_run {bool} NOT NULL,
            event_limit {bigint},
            operator TEXT NOT NULL,
            runner TEXT NOT NULL,
            started_at {ts} NOT NULL,
            ended_at {ts},
            heartbeat_at {ts} NOT NULL,
            delivered {bigint} NOT NULL DEFAULT 0,
            failed {bigint} NOT NULL DEFAULT 0,
            skipped {bigint} NOT NULL DEFAULT 0,
            attempts {bigint} NOT NULL DEFAULT 0,
            active_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            cursor {json},
            error TEXT,
            version {bigint} NOT NULL DEFAULT 1)""",
        "CREATE INDEX ix_replay_runs_name ON replay_runs (name, started_at)",
        """CREATE TABLE replay_events (
            id {id},
            run_id {bigint} NOT NULL,
            event_key TEXT NOT NULL,
            seq {bigint} NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            http_status INTEGER,
            error TEXT,
            response TEXT,
            at {ts} NOT NULL)""",
        "CREATE INDEX ix_replay_events_key ON replay_events (run_id, event_key)",
        "CREATE INDEX ix_replay_events_seq ON replay_events (run_id, seq)",
    ]),
]

TABLES: tuple[str, ...] = ("replay_runs", "replay_events")

RUNNING = "running"
# statuses a run ends in; interrupted, stopped and failed resume
FINAL: tuple[str, ...] = ("succeeded", "failed", "stopped", "interrupted", "dry_run")
OUTCOMES: tuple[str, ...] = ("delivered", "failed", "skipped")

_RUN = ("id, name, since_at, until_at, status, dry_run, event_limit, operator, runner, started_at, ended_at, "
        "heartbeat_at, delivered, failed, skipped, attempts, active_seconds, cursor, error, version")
_EVENT = "run_id, event_key, seq, status, attempts, http_status, error, response, at"


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    since: datetime | None
    until: datetime | None
    status: str
    dry_run: bool
    limit: int | None
    operator: str
    runner: str  # host:pid of the process sending
    started_at: datetime
    ended_at: datetime | None
    heartbeat_at: datetime
    delivered: int
    failed: int
    skipped: int
    attempts: int
    active_seconds: float  # time spent sending, over every resume: the rate's denominator
    cursor: dict[str, Any] | None  # {seq, position}: every event up to seq has an outcome
    error: str | None
    version: int


@dataclass(frozen=True)
class EventRow:
    run_id: int
    key: str
    seq: int
    status: str
    attempts: int
    http_status: int | None
    error: str | None  # redacted and bounded
    response: str | None  # the target's answer, redacted and bounded
    at: datetime


def _run(r: tuple[Any, ...]) -> RunRow:
    return RunRow(int(r[0]), r[1], maybe_ts(r[2]), maybe_ts(r[3]), r[4], bool(r[5]),
                  int(r[6]) if r[6] is not None else None, r[7], r[8], parse_ts(r[9]), maybe_ts(r[10]),
                  parse_ts(r[11]), int(r[12]), int(r[13]), int(r[14]), int(r[15]), float(r[16]), load_json(r[17]),
                  r[18], int(r[19]))


def _event(r: tuple[Any, ...]) -> EventRow:
    return EventRow(int(r[0]), r[1], int(r[2]), r[3], int(r[4]), int(r[5]) if r[5] is not None else None, r[6], r[7],
                    parse_ts(r[8]))


def insert_run(tx: Tx, *, name: str, since: datetime | None, until: datetime | None, dry_run: bool,
               limit: int | None, operator: str, runner: str, now: datetime) -> RunRow:
    db = tx.db
    r = tx.one(f"INSERT INTO replay_runs (name, since_at, until_at, status, dry_run, event_limit, operator, runner, "
               f"started_at, heartbeat_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING {_RUN}",
               (name, db.ts(since), db.ts(until), RUNNING, dry_run, limit, operator, runner, db.ts(now), db.ts(now)))
    assert r is not None
    return _run(r)


def get_run(tx: Tx, run_id: int) -> RunRow | None:
    r = tx.one(f"SELECT {_RUN} FROM replay_runs WHERE id = ?", (run_id,))
    return _run(r) if r else None


def move(tx: Tx, run: RunRow, to: str, now: datetime, *, runner: str | None = None,
         error: str | None = None) -> RunRow | None:
    """Compare-and-set: the run goes to ``to`` if it is still at ``run.version``; a final status
    stamps ``ended_at``. None when someone else moved it first."""
    db = tx.db
    ended = db.ts(now) if to in FINAL else None
    r = tx.one(f"UPDATE replay_runs SET status = ?, ended_at = ?, runner = COALESCE(?, runner), error = ?, "
               f"heartbeat_at = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING {_RUN}",
               (to, ended, runner, error, db.ts(now), run.id, run.version))
    return _run(r) if r else None


@dataclass
class Outcome:
    key: str
    seq: int
    status: str
    attempts: int
    http_status: int | None
    error: str | None
    response: str | None


def record(tx: Tx, run_id: int, runner: str, outcomes: list[Outcome], *, attempts: int, active_seconds: float,
           cursor: dict[str, Any] | None, now: datetime) -> bool:
    """A batch of outcomes with the run's counts, cursor and heartbeat, in the caller's
    transaction. False (and nothing written) when this runner no longer owns the run."""
    db = tx.db
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in OUTCOMES}
    got = tx.one("UPDATE replay_runs SET delivered = delivered + ?, failed = failed + ?, skipped = skipped + ?, "
                 "attempts = attempts + ?, active_seconds = active_seconds + ?, cursor = COALESCE(?, cursor), "
                 "heartbeat_at = ? WHERE id = ? AND status = ? AND runner = ? RETURNING id",
                 (counts["delivered"], counts["failed"], counts["skipped"], attempts, active_seconds,
                  db.json(cursor) if cursor is not None else None, db.ts(now), run_id, RUNNING, runner))
    if got is None:
        return False
    tx.execute_many(f"INSERT INTO replay_events ({_EVENT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, o.key, o.seq, o.status, o.attempts, o.http_status, o.error, o.response, db.ts(now))
                     for o in outcomes])
    return True


def delivered_after(tx: Tx, run_id: int, seq: int) -> set[str]:
    """Keys delivered beyond the cursor: at most the window that was in flight when it stopped."""
    return {r[0] for r in tx.all("SELECT event_key FROM replay_events WHERE run_id = ? AND seq > ? AND status = ?",
                                 (run_id, seq, "delivered"))}


def events(tx: Tx, run_id: int, status: str | None = None, limit: int = 100) -> list[EventRow]:
    where, params = ("AND status = ?", (status,)) if status else ("", ())
    return [_event(r) for r in tx.all(f"SELECT {_EVENT} FROM replay_events WHERE run_id = ? {where} "
                                      f"ORDER BY seq, id LIMIT ?", (run_id, *params, limit))]


def counts(tx: Tx, run_id: int) -> dict[str, int]:
    """Outcomes by status, from the event rows themselves."""
    got = {s: 0 for s in OUTCOMES}
    for status, n in tx.all("SELECT status, COUNT(*) FROM replay_events WHERE run_id = ? GROUP BY status", (run_id,)):
        got[status] = int(n)
    return got


def mark_stale(tx: Tx, now: datetime, older_than: float, run_id: int | None = None,
               dead_runners: tuple[str, ...] = ()) -> list[int]:
    """Running runs whose heartbeat is older than ``older_than`` seconds, or whose runner is
    known dead: they become ``interrupted`` (compare-and-set on the status); returns their ids."""
    db = tx.db
    cut = db.ts(now - timedelta(seconds=older_than))
    dead = f" OR runner IN ({', '.join('?' for _ in dead_runners)})" if dead_runners else ""
    one = " AND id = ?" if run_id is not None else ""
    found = tx.all(f"UPDATE replay_runs SET status = 'interrupted', ended_at = ?, error = ?, version = version + 1 "
                   f"WHERE status = ? AND (heartbeat_at < ?{dead}){one} RETURNING id",
                   (db.ts(now), "the replay stopped (killed?) while it ran", RUNNING, cut, *dead_runners,
                    *((run_id,) if run_id is not None else ())))
    return [int(r[0]) for r in found]


def running(tx: Tx) -> list[RunRow]:
    return [_run(r) for r in tx.all(f"SELECT {_RUN} FROM replay_runs WHERE status = ?", (RUNNING,))]


def listing(tx: Tx, name: str | None, limit: int) -> list[RunRow]:
    where, params = ("WHERE name = ?", (name,)) if name else ("", ())
    return [_run(r) for r in tx.all(f"SELECT {_RUN} FROM replay_runs {where} ORDER BY started_at DESC, id DESC "
                                    "LIMIT ?", (*params, limit))]


def failed_latest(tx: Tx, run_id: int, upto_seq: int | None = None) -> list[tuple[str, int]]:
    """(key, seq) of the events (up to ``upto_seq`` when given) whose latest outcome row is ``failed`` (not
    ``skipped``: a malformed line is never sent), in seq order; what ``resume --retry-failed``
    sends again."""
    return [(r[0], int(r[1])) for r in tx.all(
        "SELECT e.event_key, e.seq FROM replay_events e WHERE e.run_id = ? AND e.seq <= ? AND e.status = ? "
        "AND NOT EXISTS (SELECT 1 FROM replay_events l WHERE l.run_id = e.run_id AND l.event_key = e.event_key "
        "AND l.seq = e.seq AND l.id > e.id) ORDER BY e.seq",
        (run_id, upto_seq if upto_seq is not None else 2**62, "failed"))]


def record_retries(tx: Tx, run_id: int, runner: str, outcomes: list[Outcome], *, now: datetime) -> bool:
    """Outcomes of events sent again by ``resume --retry-failed``: each updates its event's failed
    row in place (its attempts added, the latest answer kept), and each one now delivered moves
    one from the run's ``failed`` count to ``delivered``. Called after ``record`` in the same
    transaction (which adds the attempts and time). False (and nothing written) when this runner
    no longer owns the run."""
    db = tx.db
    now_delivered = sum(1 for o in outcomes if o.status == "delivered")
    got = tx.one("UPDATE replay_runs SET delivered = delivered + ?, failed = failed - ?, heartbeat_at = ? "
                 "WHERE id = ? AND status = ? AND runner = ? RETURNING id",
                 (now_delivered, now_delivered, db.ts(now), run_id, RUNNING, runner))
    if got is None:
        return False
    # the newest failed row of (key, seq): the one failed_latest found
    tx.execute_many("UPDATE replay_events SET status = ?, attempts = attempts + ?, http_status = ?, error = ?, "
                    "response = ?, at = ? WHERE id = (SELECT MAX(id) FROM replay_events WHERE run_id = ? "
                    "AND event_key = ? AND seq = ?) AND status = ?",
                    [(o.status, o.attempts, o.http_status, o.error, o.response, db.ts(now), run_id, o.key, o.seq,
                      "failed") for o in outcomes])
    return True
