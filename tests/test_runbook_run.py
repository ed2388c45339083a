"""Running a runbook and its record, on both store dialects: steps in order, rollback on a
failure or a timeout, locks, dry-run, secrets kept out of everything shown or stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsbook.config.incidents import Incidents
from opsbook.errors import RunbookLocked, RunbookRunConflict, UsageError
from opsbook.ops import runbook as ops
from opsbook.ops import timeline
from opsbook.ops.incident import declare, show
from opsbook.render.runbook import progress, summary, to_json, to_markdown
from opsbook.runbooks.model import Param
from opsbook.store import Store
from tests.support.runbookrun import Clock, book, check, config, sh, statuses


def test_a_five_step_run_succeeds_and_its_record_holds_every_step(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rb = book(*(sh(f"s{i}", f"echo step {i}") for i in range(4)),
              sh("last", "echo '{\"version\": \"1.4\"}'", save=(("version", "json.version"),)))
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    assert rec.run.status == "succeeded" and rec.run.operator == "ana" and rec.run.ended_at is not None
    assert statuses(rec) == [(f"s{i}", "ok") for i in range(4)] + [("last", "ok")]
    assert [s.output.strip() for s in rec.steps[:4]] == [f"step {i}" for i in range(4)]
    assert rec.steps[0].exit_code == 0 and rec.steps[0].display == "echo step 0"
    assert rec.steps[0].assertions == [{"expr": "exit_code == 0", "ok": True, "actual": 0, "expected": "== 0",
                                        "severity": "fail", "message": ""}]
    assert rec.steps[-1].captured == {"version": "1.4"}
    assert ops.record(any_store, rec.run.id) == rec


def test_a_saved_value_reaches_later_steps_and_when_skips_a_step(any_store: Store, tmp_path: Path) -> None:
    rb = book(sh("get", "echo blue", save=(("colour", ""),)),
              sh("use", 'test "$colour" = blue && echo "got $colour"'),
              sh("never", "exit 1", when="colour == 'red'"))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    assert statuses(rec) == [("get", "ok"), ("use", "ok"), ("never", "skipped")]
    assert rec.steps[1].output.strip() == "got blue"


def test_a_failing_step_runs_the_rollback_and_the_run_is_rolled_back(any_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "rolled"
    rb = book(sh("one", "echo one"), sh("bad", "echo boom; exit 3"), sh("never", "echo never"),
              rollback=(sh("undo", f"touch {marker}"),))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    assert rec.run.status == "rolled_back" and "step bad failed" in (rec.run.error or "")
    assert statuses(rec) == [("one", "ok"), ("bad", "failed")]
    assert statuses(rec, "rollback") == [("undo", "ok")] and marker.exists()
    bad = rec.steps[1]
    assert bad.exit_code == 3 and bad.assertions and not bad.assertions[0]["ok"]


def test_a_failing_rollback_ends_rollback_failed_and_without_one_the_run_is_failed(any_store: Store,
                                                                                   tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rec = ops.run(any_store, cfg, book(sh("bad", "exit 1"), rollback=(sh("undo", "exit 1"),)), {}, "ana")
    assert rec.run.status == "rollback_failed"
    rec = ops.run(any_store, cfg, book(sh("bad", "exit 1"), sh("after", "true")), {}, "ana")
    assert rec.run.status == "failed" and statuses(rec) == [("bad", "failed")]


def test_continue_on_error_goes_on_and_retries_record_each_attempt(any_store: Store, tmp_path: Path) -> None:
    rb = book(sh("flaky", "exit 1", retries=2, continue_on_error=True), sh("after", "true"))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    assert rec.run.status == "succeeded"
    assert [(s.name, s.attempt, s.status) for s in rec.steps] == [
        ("flaky", 1, "failed"), ("flaky", 2, "failed"), ("flaky", 3, "failed"), ("after", 1, "ok")]


def test_a_hanging_step_is_killed_at_its_timeout_and_the_rollback_runs(any_store: Store, tmp_path: Path) -> None:
    rb = book(sh("hang", "sleep 60", timeout=0.5), rollback=(sh("undo", "echo undone"),))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    assert statuses(rec) == [("hang", "timeout")] and "timed out" in (rec.steps[0].error or "")
    assert rec.run.status == "rolled_back" and statuses(rec, "rollback") == [("undo", "ok")]


def test_a_second_run_on_the_same_lock_is_refused_naming_the_holder(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    holder = ops.run(any_store, cfg, book(check("check-1", "is the status page up?"), lock="deploy"), {}, "ana")
    assert holder.run.status == "waiting"  # a waiting run keeps its lock
    with pytest.raises(RunbookLocked) as e:
        ops.run(any_store, cfg, book(sh("x", "true"), name="other", lock="deploy"), {}, "bob",
                wait_lock=0.2, sleep=lambda s: None)
    assert e.value.exit_code == 1
    assert f"held by run {holder.run.id} (ana, since" in e.value.message
    assert len(ops.runs(any_store)) == 1  # the refused run left no row
    ops.abort(any_store, holder.run.id, "ana")  # gives the lock back
    assert ops.run(any_store, cfg, book(sh("x", "true"), name="other", lock="deploy"), {}, "bob").run.status \
        == "succeeded"


def test_a_dry_run_runs_read_only_steps_and_records_mutating_ones_as_not_run(any_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "changed"
    rb = book(sh("look", "echo looking", attrs={"mutates": "false"}),
              sh("change", f"touch {marker}", mutates=True, save=(("out", ""),)),
              check("check-1", "confirm the page"),
              sh("ask", "may we?", attrs={}, confirm=True),
              sh("uses", 'echo "${out}"', attrs={"mutates": "false"}), lock="deploy")
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana", dry_run=True)
    assert rec.run.dry_run and rec.run.status == "succeeded" and not marker.exists()
    assert statuses(rec) == [("look", "ok"), ("change", "dry_run"), ("check-1", "dry_run"), ("ask", "dry_run"),
                             ("uses", "ok")]
    assert rec.steps[0].output.strip() == "looking" and rec.steps[1].display == f"touch {marker}"
    with pytest.raises(RunbookRunConflict):
        ops.resume(any_store, config(tmp_path), rb, rec.run.id, "ana")
    with any_store.read() as tx:
        from opsbook.store import runbook_runs as rows

        assert rows.lock_holder(tx, "deploy") is None  # a dry-run takes no lock


def test_secret_params_never_reach_the_record_the_markdown_or_the_terminal(any_store: Store, tmp_path: Path) -> None:
    secret = "hunter2-s3cr3t-value"
    shown: list[bytes] = []
    lines: list[str] = []
    rb = book(sh("use", 'echo "token is $token"; echo "{\\"t\\": \\"$token\\"}"', save=(("copy", ""),)),
              sh("fail", 'echo "$token" >&2; exit 1'),
              params=(Param("token", secret=True, required=True), Param("who", default="ops")))
    hooks = ops.Hooks(emit=shown.append, on_step=lambda r: lines.append(progress(r)))
    rec = ops.run(any_store, config(tmp_path), rb, {"token": secret}, "ana", hooks=hooks)
    assert rec.run.params == {"token": "***", "who": "ops"}
    everything = json.dumps(to_json(rec.run, rec.steps, rec.approvals)) + to_markdown(rec.run, rec.steps, rec.approvals)
    everything += b"".join(shown).decode() + "\n".join(lines) + summary(rec.run)
    assert "token is ***" in everything and secret not in everything
    with any_store.read() as tx:  # the raw rows, as any other reader sees them
        raw = repr([tx.all(f"SELECT * FROM {t}") for t in ("runbook_runs", "runbook_steps")])
    assert secret not in raw


def test_bad_params_are_refused_before_anything_runs(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rb = book(sh("x", "true"), params=(Param("count", type="int", required=True),
                                       Param("mode", choices=("fast", "safe"), default="safe")), env=("staging",))
    for given, env, words in [({}, "staging", "needs the parameter 'count'"),
                              ({"count": "x"}, "staging", "is a int"),
                              ({"count": "1", "mode": "wild"}, "staging", "not one of fast, safe"),
                              ({"count": "1", "cuont": "2"}, "staging", "no parameter named 'cuont'"),
                              ({"count": "1"}, "production", "may not run in environment production")]:
        with pytest.raises(UsageError) as e:
            ops.run(any_store, cfg, rb, given, "ana", environment=env)
        assert words in e.value.message and e.value.exit_code == 2
    assert ops.runs(any_store) == []


def test_a_run_with_an_incident_appears_on_its_timeline_as_a_typed_runbook_entry(any_store: Store,
                                                                                tmp_path: Path) -> None:
    clock = Clock()
    inc = declare(any_store, Incidents(), "API down", "SEV2", "ana", clock())
    rec = ops.run(any_store, config(tmp_path), book(sh("x", "true"), name="restart"), {}, "bob",
                  incident_id=inc.id, clock=clock)
    kinds = [(e.kind, e.detail.get("status")) for e in show(any_store, inc.id).events]
    assert kinds[-2:] == [("runbook", "started"), ("runbook", "succeeded")]
    tl = timeline.for_incident(any_store, show(any_store, inc.id).row, clock())
    runbook_entries = [e for e in tl.entries if e.kind.startswith("runbook.")]
    assert [e.kind for e in runbook_entries] == ["runbook.started", "runbook.succeeded"]
    last = runbook_entries[-1]
    assert last.ref == f"runbook_runs:{rec.run.id}"
    assert last.detail == {"runbook": "restart", "run": rec.run.id, "status": "succeeded", "dry_run": False,
                           "record": f"opsbook runbook record {rec.run.id}"}
    assert f"opsbook runbook record {rec.run.id}" in last.summary and last.summary.startswith("bob: runbook restart")
    assert last.to_dict()["detail"]["run"] == rec.run.id
    assert not any(e.kind == "incident.runbook" for e in tl.entries)


def test_a_failed_run_resumes_at_the_failed_step_without_repeating_completed_ones(any_store: Store,
                                                                                   tmp_path: Path) -> None:
    cfg = config(tmp_path)
    count, fixed = tmp_path / "count", tmp_path / "fixed"
    rb = book(sh("one", f"echo x >> {count}"), sh("two", f"test -f {fixed}"), sh("three", "echo three"))
    rec = ops.run(any_store, cfg, rb, {}, "ana")
    assert rec.run.status == "failed"
    fixed.touch()
    rec = ops.resume(any_store, cfg, rb, rec.run.id, "ana")
    assert rec.run.status == "succeeded" and count.read_text() == "x\n"
    assert [(s.name, s.attempt, s.status) for s in rec.steps] == [
        ("one", 1, "ok"), ("two", 1, "failed"), ("two", 2, "ok"), ("three", 1, "ok")]
    with pytest.raises(RunbookRunConflict, match="only a failed, interrupted or waiting run resumes"):
        ops.resume(any_store, cfg, rb, rec.run.id, "ana")


def test_resume_refuses_a_changed_runbook_unless_forced(any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rec = ops.run(any_store, cfg, book(sh("one", "true"), sh("two", "exit 1")), {}, "ana")
    changed = book(sh("uno", "true"), sh("two", "true"), version="2")
    with pytest.raises(RunbookRunConflict) as e:
        ops.resume(any_store, cfg, changed, rec.run.id, "ana")
    assert "changed since run" in e.value.message and "steps no longer there: one" in e.value.message
    assert ops.resume(any_store, cfg, changed, rec.run.id, "ana", force=True).run.status == "succeeded"


def test_a_record_of_a_hundred_steps_renders_as_markdown(any_store: Store, tmp_path: Path) -> None:
    rb = book(*(sh(f"step-{i}", f"echo {i}", attrs={"mutates": "false"}) for i in range(100)),
              rollback=(sh("undo", "true"),))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    md = to_markdown(rec.run, rec.steps, rec.approvals)
    assert md.startswith(f"# Runbook run {rec.run.id}: demo") and md.count("\n### step-") == 100
    assert "- **Status:** succeeded" in md and "## Rollback" not in md


def test_ctrl_c_marks_the_run_interrupted_at_once_and_its_lock_passes_to_the_next_run(any_store: Store,
                                                                                      tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rb = book(sh("one", "true"), sh("two", "true"), lock="deploy")

    def stop_at_two(row: object) -> None:
        if getattr(row, "name", "") == "two" and getattr(row, "status", "") == "running":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ops.run(any_store, cfg, rb, {}, "ana", hooks=ops.Hooks(on_step=stop_at_two))
    (run,) = ops.runs(any_store)
    assert run.status == "interrupted" and run.current_step == "two"
    assert ops.run(any_store, cfg, book(sh("x", "true"), name="other", lock="deploy"), {}, "bob").run.status \
        == "succeeded"
    rec = ops.resume(any_store, cfg, rb, run.id, "ana")
    assert rec.run.status == "succeeded"
    assert statuses(rec) == [("one", "ok"), ("two", "error"), ("two", "ok")]


def test_an_abort_from_another_terminal_stops_the_run_after_its_current_step(any_store: Store,
                                                                             tmp_path: Path) -> None:
    rb = book(sh("one", "true"), sh("two", "true"), rollback=(sh("undo", "true"),))

    def abort_after_one(row: object) -> None:
        if getattr(row, "name", "") == "one" and getattr(row, "status", "") == "ok":
            ops.abort(any_store, getattr(row, "run_id"), "bob", reason="stop")  # noqa: B009

    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana", hooks=ops.Hooks(on_step=abort_after_one))
    assert rec.run.status == "aborted" and "aborted by bob: stop" in (rec.run.error or "")
    assert statuses(rec) == [("one", "ok")] and statuses(rec, "rollback") == []


def test_a_step_output_is_kept_as_its_head_and_tail_with_the_total_size(any_store: Store, tmp_path: Path) -> None:
    rb = book(sh("loud", "head -c 300000 /dev/zero | tr '\\0' a; echo; echo THE-END"))
    rec = ops.run(any_store, config(tmp_path), rb, {}, "ana")
    step = rec.steps[0]
    assert step.status == "ok" and step.output_bytes == 300009
    assert len(step.output) < 2 * 64 * 1024 + 100 and step.output.rstrip().endswith("THE-END")
    assert step.observations is not None and "stdout" not in step.observations  # kept once, in the output


def test_of_two_runs_starting_at_once_on_one_lock_one_runs_and_the_other_is_refused(any_store: Store,
                                                                                  tmp_path: Path) -> None:
    import threading

    cfg = config(tmp_path)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def start(who: str) -> None:
        barrier.wait()
        try:
            outcomes.append(ops.run(any_store, cfg, book(check("check-1", "ready?"), lock="db"), {}, who).run.status)
        except RunbookLocked:
            outcomes.append("locked")

    threads = [threading.Thread(target=start, args=(who,)) for who in ("ana", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["locked", "waiting"]
