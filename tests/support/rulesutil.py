"""Shared by the rules tests: a store on either dialect, synthetic results and runs at chosen times."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.config.load import Config
from opsbook.results import CheckResult, Status
from opsbook.rules.engine import Evaluation, evaluate
from opsbook.store import Store
from tests.support.pgutil import migrated_template, scratch_database

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@contextmanager
def open_store(dialect: str, tmp_path: Path) -> Iterator[Store]:
    if dialect == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'rules.db'}")
        try:
            yield s
        finally:
            s.close()
        return
    with scratch_database("opsbook_rules", template=migrated_template()) as dsn:
        s = Store.open(dsn)
        try:
            yield s
        finally:
            s.close()


def result(name: str, status: Status, at: datetime, duration_ms: float = 20.0,
           observations: dict[str, Any] | None = None) -> CheckResult:
    return CheckResult(name=name, kind="command", status=status, summary=status, started_at=at,
                       finished_at=at, duration_ms=duration_ms, observations=observations or {})


def record(store: Store, *results: CheckResult) -> None:
    store.record_results(list(results))


def run(store: Store, kind: str, name: str, ok: bool, at: datetime) -> None:
    store.record_run(kind, name, ok=ok, status="pass" if ok else "fail", started_at=at - timedelta(minutes=1),
                     finished_at=at, detail={})


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def states(ev: Evaluation, rule: str) -> list[str]:
    return [a.state for a in ev.alerts if a.rule == rule]


def state(ev: Evaluation, rule: str) -> str:
    s = states(ev, rule)
    assert len(s) <= 1, s
    return s[0] if s else "inactive"


def timeline(cfg: Config, store: Store, rule: str, start: datetime, end: datetime, step: timedelta,
             feed: Any = None) -> list[tuple[datetime, str]]:
    """Evaluate every ``step`` from start to end (feed(now) inserts data first); the (time, state) changes."""
    out: list[tuple[datetime, str]] = []
    now, last = start, "inactive"
    while now <= end:
        if feed is not None:
            feed(now)
        s = state(evaluate(cfg, store, now), rule)
        if s != last:
            out.append((now, s))
            last = s
        now += step
    return out


def bulk(store: Store, check: str, start: datetime, end: datetime, step: timedelta,
         bad: Any = lambda i, at: False, duration_ms: float = 20.0) -> int:
    """Synthetic history: one result every ``step`` in [start, end), written with one executemany."""
    db = store.db
    rows = []
    at, i = start, 0
    while at < end:
        is_bad = bool(bad(i, at))
        status = "fail" if is_bad else "pass"
        rows.append((check, "", "command", status, not is_bad, duration_ms, status, db.ts(at), db.ts(at), db.json({})))
        at += step
        i += 1
    with db.transaction() as tx:
        tx.execute_many("INSERT INTO check_results (check_name, env, kind, status, ok, duration_ms, summary, "
                        "started_at, finished_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)
