"""The rules layer's rows: alert state (compare-and-set), transitions, rule status, pings, overrides.

Every query here is portable SQL with ``?`` placeholders (store/db.py fills in the dialect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import IntegrityViolation
from ..store.db import Tx, load_json, parse_ts
from ..store.store import Store
from .model import AlertInstance

_STATE_COLS = ("fingerprint, rule, labels, annotations, state, value, active_since, fired_at, resolved_at, "
               "last_eval_at, last_true_at, last_cond, reason")


@dataclass
class Stored:
    """An alert instance as stored, plus the bookkeeping the state machine needs."""

    alert: AlertInstance
    last_true_at: datetime | None
    last_cond: bool | None


def _ts(v: Any) -> datetime | None:
    return parse_ts(v) if v is not None else None


def _row(row: tuple[Any, ...]) -> Stored:
    (_fp, rule, labels, annotations, state, value, active_since, fired_at, resolved_at, last_eval_at,
     last_true_at, last_cond, reason) = row
    alert = AlertInstance(rule=rule, labels=load_json(labels), annotations=load_json(annotations), state=state,
                          value=value, active_since=_ts(active_since), fired_at=_ts(fired_at),
                          resolved_at=_ts(resolved_at), last_eval_at=_ts(last_eval_at), reason=reason)
    return Stored(alert, _ts(last_true_at), None if last_cond is None else bool(last_cond))


def load_states(store: Store, env: str, *, non_inactive: bool = False) -> dict[str, Stored]:
    """Every stored instance of this environment, by fingerprint: one query."""
    sql = f"SELECT {_STATE_COLS} FROM alert_state WHERE env = ?"
    if non_inactive:
        sql += " AND state <> 'inactive'"
    with store.db.transaction() as tx:
        rows = tx.all(sql, (env,))
    return {r[0]: _row(r) for r in rows}


def _values(store: Store, s: Stored) -> tuple[Any, ...]:
    db, a = store.db, s.alert
    return (a.state, a.value, db.ts(a.active_since), db.ts(a.fired_at), db.ts(a.resolved_at), db.ts(a.last_eval_at),
            db.ts(s.last_true_at), s.last_cond, a.reason)


_SET = ("state = ?, value = ?, active_since = ?, fired_at = ?, resolved_at = ?, last_eval_at = ?, "
        "last_true_at = ?, last_cond = ?, reason = ?")


def save_changes(store: Store, env: str, changed: list[tuple[str | None, Stored]], touched: list[Stored],
                 transitions: list[tuple[str, str, Stored]], now: datetime) -> list[str]:
    """Write state changes by compare-and-set and the rest in one batch; returns the fingerprints
    another evaluator changed first (their change wins; ours is dropped)."""
    db = store.db
    lost: list[str] = []
    with db.transaction() as tx:
        for old_state, s in changed:
            if not _cas(store, tx, env, old_state, s):
                lost.append(s.alert.fingerprint)
        if touched:  # same state: value/reason/bookkeeping only, still guarded by the state we read
            tx.execute_many(f"UPDATE alert_state SET {_SET} WHERE fingerprint = ? AND env = ? AND state = ?",
                            [(*_values(store, s), s.alert.fingerprint, env, s.alert.state) for s in touched])
        lost_set = set(lost)
        rows = [(s.alert.fingerprint, env, s.alert.rule, frm, to, db.ts(now), s.alert.value, s.alert.reason)
                for frm, to, s in transitions if s.alert.fingerprint not in lost_set]
        if rows:
            tx.execute_many("INSERT INTO alert_transitions (fingerprint, env, rule, from_state, to_state, at, value, "
                            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return lost


def _cas(store: Store, tx: Tx, env: str, old_state: str | None, s: Stored) -> bool:
    db, a = store.db, s.alert
    if old_state is None:
        try:
            with tx.savepoint():
                tx.execute(f"INSERT INTO alert_state ({_STATE_COLS}, env) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (a.fingerprint, a.rule, db.json(a.labels), db.json(a.annotations), *_values(store, s), env))
        except IntegrityViolation:
            return False
        return True
    cur = tx.execute(f"UPDATE alert_state SET {_SET}, annotations = ? WHERE fingerprint = ? AND env = ? AND state = ?",
                     (*_values(store, s), db.json(a.annotations), a.fingerprint, env, old_state))
    return bool(cur.rowcount)


def save_rule_status(store: Store, env: str, now: datetime, errors: dict[str, str], rules: list[str]) -> None:
    """The last evaluation time of each rule and its last error (kept after recovery: people look for it)."""
    db = store.db
    with db.transaction() as tx:
        known = {r[0] for r in tx.all("SELECT rule FROM alert_rule_status WHERE env = ?", (env,))}
        new = [(r, env, db.ts(now)) for r in rules if r not in known]
        if new:
            tx.execute_many("INSERT INTO alert_rule_status (rule, env, last_eval_at) VALUES (?, ?, ?)", new)
        tx.execute("UPDATE alert_rule_status SET last_eval_at = ? WHERE env = ?", (db.ts(now), env))
        if errors:
            tx.execute_many("UPDATE alert_rule_status SET last_error = ?, last_error_at = ? WHERE rule = ? AND env = ?",
                            [(msg, db.ts(now), rule, env) for rule, msg in errors.items()])


def rule_status(store: Store, env: str) -> dict[str, dict[str, Any]]:
    with store.db.transaction() as tx:
        rows = tx.all("SELECT rule, last_eval_at, last_error, last_error_at FROM alert_rule_status WHERE env = ?",
                      (env,))
    return {r: {"last_eval_at": _ts(at), "last_error": e, "last_error_at": _ts(eat)} for r, at, e, eat in rows}


def transitions(store: Store, env: str, limit: int = 100) -> list[dict[str, Any]]:
    with store.db.transaction() as tx:
        rows = tx.all("SELECT rule, fingerprint, from_state, to_state, at, value, reason FROM alert_transitions "
                      "WHERE env = ? ORDER BY id DESC LIMIT ?", (env, limit))
    return [{"rule": r, "fingerprint": fp, "from": f, "to": t, "at": parse_ts(at).isoformat(), "value": v,
             "reason": why} for r, fp, f, t, at, v, why in rows]
