"""The replay record on both store dialects: outcomes written by the runner that owns the run only,
status moves by compare-and-set, a silent runner's run is interrupted, and an unreachable source
records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsbook.ops import replay as ops
from opsbook.store import Store
from opsbook.store import replay_runs as rows
from tests.support.clirun import opsbook
from tests.support.helpers import free_port
from tests.support.replayutil import config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _outcome(key: str, seq: int, status: str = "delivered") -> rows.Outcome:
    return rows.Outcome(key, seq, status, 1, 200 if status == "delivered" else 500, None, None)


def test_only_the_runner_owning_a_run_records_its_outcomes(any_store: Store) -> None:
    with any_store.transaction() as tx:
        run = rows.insert_run(tx, name="hooks", since=T0, until=T0 + timedelta(hours=1), dry_run=False, limit=None,
                              operator="ana", runner="elsewhere:1:aaaa", now=T0)
        assert rows.record(tx, run.id, "elsewhere:1:aaaa", [_outcome("e1", 0), _outcome("e2", 1, "failed")],
                           attempts=5, active_seconds=1.5, cursor={"seq": 1, "position": None}, now=T0)
        assert not rows.record(tx, run.id, "someone-else:2:bbbb", [_outcome("e3", 2)], attempts=1,
                               active_seconds=1, cursor={"seq": 2, "position": None}, now=T0)
    with any_store.read() as tx:
        got = rows.get_run(tx, run.id)
        assert got is not None
        assert (got.delivered, got.failed, got.attempts, got.cursor) == (1, 1, 5, {"seq": 1, "position": None})
        assert got.since == T0 and rows.counts(tx, run.id) == {"delivered": 1, "failed": 1, "skipped": 0}
        assert rows.delivered_after(tx, run.id, -1) == {"e1"} and rows.delivered_after(tx, run.id, 0) == set()


def test_a_run_whose_heartbeat_went_silent_is_interrupted_and_a_stale_move_loses(any_store: Store) -> None:
    with any_store.transaction() as tx:
        run = rows.insert_run(tx, name="hooks", since=None, until=None, dry_run=False, limit=10, operator="ana",
                              runner="another-host:1:aaaa", now=T0)
    rep = ops.report(any_store, run.id, clock=lambda: T0 + timedelta(seconds=10))
    assert rep.run is not None and rep.run.status == "running"  # another host: only the heartbeat tells
    rep = ops.report(any_store, run.id, clock=lambda: T0 + timedelta(seconds=ops.STALE_AFTER + 1))
    assert rep.run is not None and rep.run.status == "interrupted" and rep.run.ended_at is not None
    with any_store.transaction() as tx:
        assert rows.move(tx, run, "succeeded", T0) is None  # run is the version before: someone moved it
    assert [r.id for r in ops.runs(any_store, name="hooks")] == [run.id]


def test_an_unreachable_source_exits_3_and_records_nothing(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, "http://127.0.0.1:9", '{sql: {resource: db, query: "SELECT 1 AS id", key: id}}')
    cfg.write_text(cfg.read_text().replace(
        "resources:\n", f'resources:\n  db: {{kind: postgres, dsn: "postgresql://u@127.0.0.1:{port}/x"}}\n'))
    r = opsbook("replay", "run", "hooks", "-c", str(cfg))
    assert r.code == 3 and "cannot connect to the replay source db" in r.stderr, r.text
    missing = config(tmp_path, "http://127.0.0.1:9", "{jsonl: {path: nowhere.jsonl, key: id}}")
    r = opsbook("replay", "run", "hooks", "-c", str(missing))
    assert r.code == 3 and "does not exist" in r.stderr, r.text
    assert opsbook("replay", "list", "--json", "-c", str(missing)).json == {"runs": []}
