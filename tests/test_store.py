"""The store behaves the same on SQLite and PostgreSQL: results, flips, state, migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.assertions import Outcome
from opsbook.errors import StoreError
from opsbook.results import CheckResult, Status
from opsbook.store import Store
from opsbook.store.schema import MIGRATIONS


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store  # conftest: SQLite and PostgreSQL


T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def result(name: str, status: Status, at: datetime, summary: str = "") -> CheckResult:
    return CheckResult(
        name=name, kind="http", status=status, summary=summary or status, started_at=at,
        finished_at=at + timedelta(milliseconds=20), duration_ms=20.0, env="prod",
        observations={"status": 200 if status == "pass" else 503},
        assertions=[Outcome("status == 200", status == "pass", 200 if status == "pass" else 503, "== 200")],
        error={"type": "ProbeError", "message": "refused", "hint": "", "retryable": True}
        if status == "error" else None,
    )


def test_first_result_is_a_flip_from_nothing(store: Store) -> None:
    flips = store.record_results([result("api", "pass", T0)])
    assert [(f.from_status, f.to_status) for f in flips] == [(None, "pass")]


def test_same_status_again_is_not_a_flip_and_status_change_is(store: Store) -> None:
    store.record_results([result("api", "pass", T0)])
    assert store.record_results([result("api", "pass", T0 + timedelta(seconds=15))]) == []
    flips = store.record_results([result("api", "fail", T0 + timedelta(seconds=30), "got 503")])
    assert [(f.from_status, f.to_status, f.summary) for f in flips] == [("pass", "fail", "got 503")]
    (state,) = store.states("prod")
    assert state.status == "fail"
    assert state.since == T0 + timedelta(seconds=30, milliseconds=20)
    assert state.last_error is not None and state.last_error["message"] == "got 503"


def test_last_error_is_kept_after_recovery(store: Store) -> None:
    store.record_results([result("db", "error", T0)])
    store.record_results([result("db", "pass", T0 + timedelta(minutes=1))])
    (state,) = store.states()
    assert state.status == "pass"
    assert state.last_error == {"type": "ProbeError", "message": "refused", "hint": "", "retryable": True}


def test_history_returns_results_newest_first_round_tripped(store: Store) -> None:
    for i, st in enumerate(["pass", "fail", "pass"]):
        store.record_results([result("api", st, T0 + timedelta(seconds=15 * i))])  # type: ignore[arg-type]
    hist = store.history("api", "prod")
    assert [r.status for r in hist] == ["pass", "fail", "pass"]
    assert hist[1].assertions[0].actual == 503
    assert hist[0].started_at == T0 + timedelta(seconds=30)
    assert [f.to_status for f in store.flips("api")] == ["pass", "fail", "pass"]


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    assert store.version() == MIGRATIONS[-1][0]
    assert store.migrate() == MIGRATIONS[-1][0]


def test_runs_are_recorded_with_secrets_scrubbed(store: Store) -> None:
    from opsbook.config.secrets import redactor

    redactor.add("s3cr3t-token-value")
    store.record_run("smoke", "login", ok=True, status="pass", started_at=T0, finished_at=T0,
                     detail={"header": "Bearer s3cr3t-token-value"})
    (run,) = store.runs("smoke")
    assert run["detail"] == {"header": "Bearer ***"}


def test_unreachable_postgres_store_is_a_could_not_run_error_without_password() -> None:
    with pytest.raises(StoreError) as e:
        Store.open("postgresql://opsbook:pa55word-xyz@127.0.0.1:1/opsbook")
    assert e.value.exit_code == 3
    assert "pa55word-xyz" not in e.value.message


def test_sqlite_store_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x' / 'store.db'}"
    s = Store.open(url)
    s.record_results([result("api", "pass", T0)])
    s.close()
    s = Store.open(url)
    assert s.table_counts()["check_results"] == 1
    with s.db.transaction() as tx:
        assert tx.one("PRAGMA journal_mode") == ("wal",)
    s.close()


def test_a_batch_of_many_results_records_each_flip_once(store: Store) -> None:
    first = [result(f"c{i}", "pass", T0) for i in range(300)]
    assert len(store.record_results(first)) == 300
    second = [result(f"c{i}", "fail" if i % 100 == 0 else "pass", T0 + timedelta(seconds=15)) for i in range(300)]
    flips = store.record_results(second)
    assert sorted(f.check for f in flips) == ["c0", "c100", "c200"]
    assert store.table_counts()["check_results"] == 600
    states = {s.check: s for s in store.states("prod")}
    assert states["c1"].updated_at == T0 + timedelta(seconds=15, milliseconds=20)
    assert states["c100"].status == "fail"


def test_the_same_check_twice_in_one_batch_flips_in_order(store: Store) -> None:
    flips = store.record_results([result("api", "pass", T0), result("api", "fail", T0 + timedelta(seconds=1))])
    assert [(f.from_status, f.to_status) for f in flips] == [(None, "pass"), ("pass", "fail")]
