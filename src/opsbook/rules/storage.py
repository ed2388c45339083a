"""The rules layer's rows: alert state (compare-and-set), transitions, rule status.

The SQL lives in store/alerts.py (the tables' owner); here rows become AlertInstances and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store import alerts as rows
from ..store.store import Store
from .model import AlertInstance


@dataclass
class Stored:
    """An alert instance as stored, plus the bookkeeping the state machine needs."""

    alert: AlertInstance
    last_true_at: datetime | None
    last_cond: bool | None


def _stored(r: rows.AlertRow) -> Stored:
    alert = AlertInstance(rule=r.rule, labels=r.labels, annotations=r.annotations, state=r.state,  # type: ignore[arg-type]
                          value=r.value, active_since=r.active_since, fired_at=r.fired_at,
                          resolved_at=r.resolved_at, last_eval_at=r.last_eval_at, reason=r.reason)
    return Stored(alert, r.last_true_at, r.last_cond)


def _row(s: Stored) -> rows.AlertRow:
    a = s.alert
    return rows.AlertRow(a.fingerprint, a.rule, a.labels, a.annotations, a.state, a.value, a.active_since,
                         a.fired_at, a.resolved_at, a.last_eval_at, s.last_true_at, s.last_cond, a.reason)


def load_states(store: Store, env: str, *, non_inactive: bool = False) -> dict[str, Stored]:
    """Every stored instance of this environment, by fingerprint: one query."""
    with store.transaction() as tx:
        found = rows.load_states(tx, env, non_inactive=non_inactive)
    return {r.fingerprint: _stored(r) for r in found}


def save_changes(store: Store, env: str, changed: list[tuple[str | None, Stored]], touched: list[Stored],
                 transitions: list[tuple[str, str, Stored]], now: datetime) -> list[str]:
    """Write state changes by compare-and-set and the rest in one batch; returns the fingerprints
    another evaluator changed first (their change wins; ours is dropped)."""
    lost: list[str] = []
    with store.transaction() as tx:
        for old_state, s in changed:
            won = (rows.insert_state(tx, env, _row(s)) if old_state is None
                   else rows.change_state(tx, env, old_state, _row(s)))
            if not won:
                lost.append(s.alert.fingerprint)
        rows.touch_states(tx, env, [_row(s) for s in touched])
        lost_set = set(lost)
        rows.add_transitions(tx, env, now, [
            (s.alert.fingerprint, s.alert.rule, frm, to, s.alert.value, s.alert.reason)
            for frm, to, s in transitions if s.alert.fingerprint not in lost_set])
    return lost


def save_rule_status(store: Store, env: str, now: datetime, errors: dict[str, str], rules: list[str]) -> None:
    """The last evaluation time of each rule and its last error (kept after recovery: people look for it)."""
    with store.transaction() as tx:
        rows.save_rule_status(tx, env, now, errors, rules)


def rule_status(store: Store, env: str) -> dict[str, dict[str, Any]]:
    with store.transaction() as tx:
        return rows.rule_status(tx, env)


def transitions(store: Store, env: str, limit: int = 100) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        return rows.transitions(tx, env, limit)
