"""Owner of the alerting tables: alert_state (compare-and-set on state), alert_transitions,
alert_rule_status and slo_overrides; their migrations (10-19) and SQL. rules/ keeps the state
machine and maps rows to its own types. Functions take the transaction they run in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import IntegrityViolation
from .db import Tx, load_json, maybe_ts, parse_ts, ts_reader

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (10, "alert state, transitions, rule status", [
        # one row per alert instance (rule x label set); state changes are compare-and-set on state
        """CREATE TABLE alert_state (
            fingerprint TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            labels {json} NOT NULL,
            annotations {json} NOT NULL,
            state TEXT NOT NULL,
            value DOUBLE PRECISION,
            active_since {ts},
            fired_at {ts},
            resolved_at {ts},
            last_eval_at {ts},
            last_true_at {ts},
            last_cond {bool},
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (fingerprint, env))""",
        "CREATE INDEX ix_alert_state_rule ON alert_state (rule, env)",
        """CREATE TABLE alert_transitions (
            id {id},
            fingerprint TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            at {ts} NOT NULL,
            value DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_alert_transitions_rule_at ON alert_transitions (rule, at)",
        # the last evaluation of each rule and its last error (a source that could not be read)
        """CREATE TABLE alert_rule_status (
            rule TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            last_eval_at {ts} NOT NULL,
            last_error TEXT,
            last_error_at {ts},
            PRIMARY KEY (rule, env))""",
    ]),
    (12, "error budget gate overrides", [
        """CREATE TABLE slo_overrides (
            id {id},
            slo TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL)""",
        "CREATE INDEX ix_slo_overrides_slo ON slo_overrides (slo, env, expires_at)",
    ]),
    # an incident's timeline reads every rule's transitions in a time window (ops/timeline.py)
    (13, "alert transitions by time", [
        "CREATE INDEX ix_alert_transitions_at ON alert_transitions (at)",
    ]),
]

TABLES: tuple[str, ...] = ("alert_state", "alert_transitions", "alert_rule_status", "slo_overrides")

_STATE_COLS = ("fingerprint, rule, labels, annotations, state, value, active_since, fired_at, resolved_at, "
               "last_eval_at, last_true_at, last_cond, reason")
_SET = ("state = ?, value = ?, active_since = ?, fired_at = ?, resolved_at = ?, last_eval_at = ?, "
        "last_true_at = ?, last_cond = ?, reason = ?")


@dataclass
class AlertRow:
    """One alert_state row."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    value: float | None
    active_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    last_eval_at: datetime | None
    last_true_at: datetime | None
    last_cond: bool | None
    reason: str


def _row(row: tuple[Any, ...]) -> AlertRow:
    (fp, rule, labels, annotations, state, value, active_since, fired_at, resolved_at, last_eval_at,
     last_true_at, last_cond, reason) = row
    return AlertRow(fp, rule, load_json(labels), load_json(annotations), state, value, maybe_ts(active_since),
                    maybe_ts(fired_at), maybe_ts(resolved_at), maybe_ts(last_eval_at), maybe_ts(last_true_at),
                    None if last_cond is None else bool(last_cond), reason)


def _values(tx: Tx, a: AlertRow) -> tuple[Any, ...]:
    db = tx.db
    return (a.state, a.value, db.ts(a.active_since), db.ts(a.fired_at), db.ts(a.resolved_at), db.ts(a.last_eval_at),
            db.ts(a.last_true_at), a.last_cond, a.reason)


def load_states(tx: Tx, env: str, *, non_inactive: bool = False) -> list[AlertRow]:
    """Every stored instance of this environment: one query."""
    sql = f"SELECT {_STATE_COLS} FROM alert_state WHERE env = ?"
    if non_inactive:
        sql += " AND state <> 'inactive'"
    return [_row(r) for r in tx.all(sql, (env,))]


def insert_state(tx: Tx, env: str, a: AlertRow) -> bool:
    """A new instance; False when another evaluator inserted it first."""
    db = tx.db
    try:
        with tx.savepoint():
            tx.execute(f"INSERT INTO alert_state ({_STATE_COLS}, env) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (a.fingerprint, a.rule, db.json(a.labels), db.json(a.annotations), *_values(tx, a), env))
    except IntegrityViolation:
        return False
    return True


def change_state(tx: Tx, env: str, old_state: str, a: AlertRow) -> bool:
    """Compare-and-set: write ``a`` (annotations too) if the row is still in ``old_state``."""
    cur = tx.execute(f"UPDATE alert_state SET {_SET}, annotations = ? WHERE fingerprint = ? AND env = ? AND state = ?",
                     (*_values(tx, a), tx.db.json(a.annotations), a.fingerprint, env, old_state))
    return bool(cur.rowcount)


def touch_states(tx: Tx, env: str, rows: list[AlertRow]) -> None:
    """Same state: value/reason/bookkeeping only, still guarded by the state read."""
    if rows:
        tx.execute_many(f"UPDATE alert_state SET {_SET} WHERE fingerprint = ? AND env = ? AND state = ?",
                        [(*_values(tx, a), a.fingerprint, env, a.state) for a in rows])


def add_transitions(tx: Tx, env: str, at: datetime,
                    rows: list[tuple[str, str, str, str, float | None, str]]) -> None:
    """(fingerprint, rule, from, to, value, reason) rows, all at ``at``."""
    if rows:
        tx.execute_many("INSERT INTO alert_transitions (fingerprint, env, rule, from_state, to_state, at, value, "
                        "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(fp, env, rule, frm, to, tx.db.ts(at), value, why) for fp, rule, frm, to, value, why in rows])


def transitions(tx: Tx, env: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = tx.all("SELECT rule, fingerprint, from_state, to_state, at, value, reason FROM alert_transitions "
                  "WHERE env = ? ORDER BY id DESC LIMIT ?", (env, limit))
    return [{"rule": r, "fingerprint": fp, "from": f, "to": t, "at": parse_ts(at).isoformat(), "value": v,
             "reason": why} for r, fp, f, t, at, v, why in rows]


# one alert_transitions row for a timeline: (at, id, rule, env, from_state, to_state, value, reason)
TransitionLine = tuple[datetime, int, str, str, str, str, float | None, str]


def transitions_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[TransitionLine]:
    """Alert state changes at ``start`` .. ``end`` in every environment, newest first, at most
    ``limit``, as plain tuples (an incident's timeline reads thousands: tuples straight from the rows)."""
    db = tx.db
    rows = tx.all("SELECT at, id, rule, env, from_state, to_state, value, reason FROM alert_transitions "
                  "WHERE at >= ? AND at <= ? ORDER BY at DESC, id DESC LIMIT ?", (db.ts(start), db.ts(end), limit))
    if db.dialect == "postgresql":
        return rows  # timestamptz arrive as aware datetimes
    iso = ts_reader(db.dialect)
    return [(iso(at), i, r, e, f, t, v, why) for at, i, r, e, f, t, v, why in rows]


def count_transitions_between(tx: Tx, start: datetime, end: datetime) -> int:
    r = tx.one("SELECT count(*) FROM alert_transitions WHERE at >= ? AND at <= ?", (tx.db.ts(start), tx.db.ts(end)))
    return int(r[0]) if r else 0


def prune_transitions(tx: Tx, before: Any) -> int:
    return int(tx.execute("DELETE FROM alert_transitions WHERE at < ?", (before,)).rowcount)


def save_rule_status(tx: Tx, env: str, now: datetime, errors: dict[str, str], rules: list[str]) -> None:
    """The last evaluation time of each rule and its last error (kept after recovery: people look for it)."""
    db = tx.db
    known = {r[0] for r in tx.all("SELECT rule FROM alert_rule_status WHERE env = ?", (env,))}
    new = [(r, env, db.ts(now)) for r in rules if r not in known]
    if new:
        tx.execute_many("INSERT INTO alert_rule_status (rule, env, last_eval_at) VALUES (?, ?, ?)", new)
    tx.execute("UPDATE alert_rule_status SET last_eval_at = ? WHERE env = ?", (db.ts(now), env))
    if errors:
        tx.execute_many("UPDATE alert_rule_status SET last_error = ?, last_error_at = ? WHERE rule = ? AND env = ?",
                        [(msg, db.ts(now), rule, env) for rule, msg in errors.items()])


def rule_status(tx: Tx, env: str) -> dict[str, dict[str, Any]]:
    rows = tx.all("SELECT rule, last_eval_at, last_error, last_error_at FROM alert_rule_status WHERE env = ?",
                  (env,))
    return {r: {"last_eval_at": maybe_ts(at), "last_error": e, "last_error_at": maybe_ts(eat)}
            for r, at, e, eat in rows}


# -- error budget overrides ------------------------------------------------------------------------


def add_override(tx: Tx, slo: str, env: str, reason: str, by: str, now: datetime, expires: datetime) -> None:
    db = tx.db
    tx.execute("INSERT INTO slo_overrides (slo, env, reason, created_by, created_at, expires_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", (slo, env, reason, by, db.ts(now), db.ts(expires)))


def active_override(tx: Tx, slo: str, env: str, now: datetime) -> tuple[str, str, datetime, datetime] | None:
    """(reason, created by, created at, expires at) of the override in force that ends last."""
    db = tx.db
    row = tx.one("SELECT reason, created_by, created_at, expires_at FROM slo_overrides WHERE slo = ? AND env = ? "
                 "AND created_at <= ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
                 (slo, env, db.ts(now), db.ts(now)))
    return None if row is None else (row[0], row[1], parse_ts(row[2]), parse_ts(row[3]))
