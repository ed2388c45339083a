"""Approvals, confirmations and checklists: a run waits for a person, on both store dialects,
with an injected clock for the TTLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.errors import RunbookRunConflict
from opsbook.ops import runbook as ops
from opsbook.runbooks.model import Step
from opsbook.store import Store
from tests.support.runbookrun import Clock, book, check, config, sh, statuses


def approval(name: str = "go", question: str = "kill idle connections?") -> Step:
    return Step(name, "approval", question + "\n", 1)


def test_an_approval_by_the_runner_is_refused_and_by_another_operator_the_run_proceeds(any_store: Store,
                                                                                      tmp_path: Path) -> None:
    cfg, clock = config(tmp_path), Clock()
    rb = book(sh("before", "true"), approval(), sh("after", "echo after"))
    rec = ops.run(any_store, cfg, rb, {}, "ana", clock=clock)
    assert rec.run.status == "waiting" and rec.run.waiting and rec.run.waiting["name"] == "go"
    assert [(a.step, a.decision) for a in rec.approvals] == [("go", None)]
    with pytest.raises(RunbookRunConflict, match="must come from another operator") as e:
        ops.approve(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    assert e.value.exit_code == 1
    with pytest.raises(RunbookRunConflict, match="waits for an approval of step go, not other"):
        ops.approve(any_store, cfg, rb, rec.run.id, "bob", step="other", clock=clock)
    with pytest.raises(RunbookRunConflict, match="waits for an approval"):
        ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    clock.advance(minutes=5)
    ops.approve(any_store, cfg, rb, rec.run.id, "bob", step="go", clock=clock)
    with pytest.raises(RunbookRunConflict, match="not waiting for an approval"):
        ops.approve(any_store, cfg, rb, rec.run.id, "carol", clock=clock)  # decided once
    done = ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    assert done.run.status == "succeeded"
    assert statuses(done) == [("before", "ok"), ("go", "approved"), ("after", "ok")]
    approved = done.steps[1]
    assert approved.actor == "bob" and approved.decided_at == clock.at
    assert [(a.decision, a.decided_by) for a in done.approvals] == [("approved", "bob")]


def test_a_rejection_aborts_the_run_and_runs_its_rollback(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    marker = tmp_path / "undone"
    rb = book(sh("before", "true"), approval(), sh("after", "true"), rollback=(sh("undo", f"touch {marker}"),))
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    done = ops.reject(any_store, cfg, rb, rec.run.id, "bob", reason="not during peak")
    assert done.run.status == "rolled_back" and "rejected by bob: not during peak" in (done.run.error or "")
    assert statuses(done) == [("before", "ok"), ("go", "rejected")] and marker.exists()
    assert done.steps[1].actor == "bob"
    assert [(a.decision, a.reason) for a in done.approvals] == [("rejected", "not during peak")]


def test_an_expired_approval_fails_the_run_and_runs_its_rollback(any_store: Store, tmp_path: Path) -> None:
    cfg, clock = config(tmp_path, ", approval_ttl: 30m"), Clock()
    rb = book(approval(), sh("after", "true"), rollback=(sh("undo", "echo undo"),))
    rec = ops.run(any_store, cfg, rb, {}, "ana", clock=clock)
    clock.advance(minutes=31)
    with pytest.raises(RunbookRunConflict, match="expired") as e:
        ops.approve(any_store, cfg, rb, rec.run.id, "bob", clock=clock)
    assert "is now rolled_back" in e.value.message
    done = ops.record(any_store, rec.run.id)
    assert done.run.status == "rolled_back" and "expired" in (done.run.error or "")
    assert [a.decision for a in done.approvals] == ["expired"] and statuses(done, "rollback") == [("undo", "ok")]


def test_a_confirm_step_needs_an_approval_in_a_require_approval_environment(any_store: Store,
                                                                            tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rb = book(sh("drop", "echo dropped", confirm=True))
    assert ops.run(any_store, cfg, rb, {}, "ana", environment="staging", yes=True).run.status == "succeeded"
    rec = ops.run(any_store, cfg, rb, {}, "ana", environment="production", yes=True)
    assert rec.run.status == "waiting" and rec.run.waiting and rec.run.waiting["kind"] == "approval"
    ops.approve(any_store, cfg, rb, rec.run.id, "bob")
    done = ops.resume(any_store, cfg, rb, rec.run.id, "ana")
    assert done.run.status == "succeeded" and statuses(done) == [("drop", "ok")]


def test_a_confirm_step_asks_in_a_terminal_and_waits_without_one(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rb = book(sh("drop", "echo dropped", confirm=True))
    asked: list[str] = []

    def no(step: Step, rendered: object) -> bool:
        asked.append(step.name)
        return False

    rec = ops.run(any_store, cfg, rb, {}, "ana", hooks=ops.Hooks(confirm=no))
    assert asked == ["drop"] and rec.run.status == "aborted" and statuses(rec) == []
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    assert rec.run.status == "waiting" and rec.run.waiting and rec.run.waiting["kind"] == "confirm"
    assert ops.resume(any_store, cfg, rb, rec.run.id, "ana", yes=True).run.status == "succeeded"


def test_checklist_items_are_acknowledged_in_a_terminal_or_later_with_ack(any_store: Store, tmp_path: Path) -> None:
    cfg, clock = config(tmp_path), Clock()
    rb = book(sh("one", "true"), check("check-1", "status page says maintenance"), check("check-2", "backup done"),
              sh("two", "true"))
    rec = ops.run(any_store, cfg, rb, {}, "ana", hooks=ops.Hooks(ack=lambda item: True), clock=clock)
    assert rec.run.status == "succeeded" and [s.actor for s in rec.steps if s.kind == "checklist"] == ["ana", "ana"]

    rec = ops.run(any_store, cfg, rb, {}, "ana", clock=clock)
    assert rec.run.status == "waiting" and rec.run.waiting and rec.run.waiting["name"] == "check-1"
    with pytest.raises(RunbookRunConflict, match="waits for checklist item check-1, not 2"):
        ops.ack(any_store, rb, rec.run.id, "bob", item="2", clock=clock)
    with pytest.raises(RunbookRunConflict, match="waits for checklist item"):
        ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    ops.ack(any_store, rb, rec.run.id, "bob", item="1", clock=clock)
    rec = ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    assert rec.run.waiting and rec.run.waiting["name"] == "check-2"
    ops.ack(any_store, rb, rec.run.id, "bob", clock=clock)
    rec = ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock)
    assert rec.run.status == "succeeded"
    assert statuses(rec) == [("one", "ok"), ("check-1", "acked"), ("check-2", "acked"), ("two", "ok")]


def test_an_unacknowledged_checklist_item_expires_and_the_run_rolls_back(any_store: Store, tmp_path: Path) -> None:
    cfg, clock = config(tmp_path, ", checklist_timeout: 1h"), Clock()
    rb = book(check("check-1", "backup done"), rollback=(sh("undo", "true"),))
    rec = ops.run(any_store, cfg, rb, {}, "ana", clock=clock)
    clock.advance(hours=2)
    with pytest.raises(RunbookRunConflict, match="expired"):
        ops.ack(any_store, rb, rec.run.id, "bob", clock=clock)
    assert ops.resume(any_store, cfg, rb, rec.run.id, "ana", clock=clock).run.status == "rolled_back"


def test_abort_stops_a_waiting_run_and_rollback_runs_its_rollback_later(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    marker = tmp_path / "undone"
    rb = book(check("check-1", "ready?"), rollback=(sh("undo", f"touch {marker}"),), lock="db")
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    aborted = ops.abort(any_store, rec.run.id, "ana", reason="wrong day")
    assert aborted.run.status == "aborted" and "wrong day" in (aborted.run.error or "") and not marker.exists()
    with pytest.raises(RunbookRunConflict, match="ended already"):
        ops.abort(any_store, rec.run.id, "ana")
    assert ops.rollback(any_store, cfg, rb, rec.run.id, "ana").run.status == "rolled_back" and marker.exists()


def test_of_two_operators_approving_at_once_one_wins(any_store: Store, tmp_path: Path) -> None:
    import threading

    cfg = config(tmp_path)
    rb = book(approval(), sh("after", "true"))
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(who: str) -> None:
        barrier.wait()
        try:
            ops.approve(any_store, cfg, rb, rec.run.id, who)
            outcomes.append("approved")
        except RunbookRunConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("bob", "carol")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["approved", "conflict"]
    decided = ops.record(any_store, rec.run.id).approvals
    assert len(decided) == 1 and decided[0].decision == "approved" and decided[0].decided_by in ("bob", "carol")
