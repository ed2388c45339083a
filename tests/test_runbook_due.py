"""Scheduled runbooks: routine ones run by `opsbook serve` once per occurrence (leased), ones with
manual items become due tasks (`runbook due`), and `runbook NAME overdue` is a rule source. Both
store dialects; time is a variable the test moves."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsbook.config.load import Config
from opsbook.daemon.log import Log
from opsbook.daemon.scheduler import Scheduler
from opsbook.ops import runbook as ops
from opsbook.ops.runbook_due import due
from opsbook.rules import engine
from opsbook.runbooks.load import find
from opsbook.store import Store
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.runbookrun import Clock

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

WEEKLY = """---
title: Weekly maintenance
owner: platform
schedule: "0 9 * * 1"
grace: 2h
---
# Weekly maintenance

```sh {name=vacuum mutates=false}
echo vacuumed
```

- [ ] read the slow query report
"""


def write(tmp_path: Path, name: str, text: str) -> None:
    d = tmp_path / "runbooks"
    d.mkdir(exist_ok=True)
    (d / f"{name}.md").write_text(text)


def routine(cron: str, body: str) -> str:
    return (f"---\ntitle: routine\nschedule: \"{cron}\"\n---\n# Routine\n\n"
            f"```sh {{name=work mutates=false}}\n{body}\n```\n")


def config(tmp_path: Path, extra: str = "") -> Config:
    return load("serve: {jitter: 0}\nrunbooks: {step_timeout: 20s}\n" + extra, tmp_path)


def scheduler(cfg: Config, store: Store, clock: Clock, log: io.StringIO) -> Scheduler:
    return Scheduler(cfg, store, log=Log(stream=log), clock=clock, rng=random.Random(1))


def test_a_routine_runbook_runs_once_per_occurrence_under_two_schedulers_sharing_a_store(
        any_store: Store, tmp_path: Path) -> None:
    count = tmp_path / "count"
    write(tmp_path, "nightly", routine("0 3 * * *", f"echo run >> {count}"))
    cfg = config(tmp_path)
    clock = Clock(MONDAY_9)
    other = Store.open(any_store.url, migrate=False)
    logs = io.StringIO(), io.StringIO()
    a, b = scheduler(cfg, any_store, clock, logs[0]), scheduler(cfg, other, clock, logs[1])

    async def both(at: datetime) -> None:
        clock.at = at
        await asyncio.gather(a.tick(at), b.tick(at))
        await asyncio.gather(a.drain(60), b.drain(60))

    async def go() -> None:
        await both(MONDAY_9)
        assert not count.exists()  # a cron unit waits for its first time
        for day in (1, 2):
            at = MONDAY_9.replace(hour=3) + timedelta(days=day)
            await both(at)
            await both(at + timedelta(seconds=30))  # a later tick in the same occurrence runs nothing
            assert count.read_text().splitlines() == ["run"] * day

    try:
        asyncio.run(go())
        runs = ops.runs(any_store, runbook="nightly", statuses=None, limit=10)
        assert [(r.status, r.operator) for r in runs] == [("succeeded", "opsbook-serve")] * 2
        said = logs[0].getvalue() + logs[1].getvalue()
        assert said.count("runbook nightly ok (run ") == 2
    finally:
        for s in (a, b):
            s.close()
        other.close()


def test_a_failing_routine_run_is_logged_once_and_the_other_units_still_run(any_store: Store,
                                                                           tmp_path: Path) -> None:
    ok = tmp_path / "ok"
    write(tmp_path, "broken", routine("0 3 * * *", "echo boom; exit 3"))
    write(tmp_path, "fine", routine("0 3 * * *", f"touch {ok}"))
    clock = Clock(MONDAY_9)
    log = io.StringIO()
    s = scheduler(config(tmp_path), any_store, clock, log)

    async def go() -> None:
        for at in (MONDAY_9, MONDAY_9.replace(hour=3) + timedelta(days=1),
                   MONDAY_9.replace(hour=3, second=30) + timedelta(days=1)):
            clock.at = at
            await s.tick(at)
            await s.drain(60)

    try:
        asyncio.run(go())
    finally:
        s.close()
    assert ok.exists()
    text = log.getvalue()
    assert text.count("runbook broken rolled_back") + text.count("runbook broken failed") == 1
    assert [r.status for r in ops.runs(any_store, runbook="broken", statuses=None, limit=10)] == ["failed"]


def test_a_scheduled_confirm_step_waits_is_never_auto_confirmed_and_later_occurrences_do_not_pile_up(
        any_store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    write(tmp_path, "restart", "---\nschedule: \"0 3 * * *\"\n---\n# R\n\n"
                               f"```sh {{name=restart mutates=true confirm=true}}\ntouch {marker}\n```\n")
    clock = Clock(MONDAY_9)
    s = scheduler(config(tmp_path), any_store, clock, io.StringIO())

    log = io.StringIO()
    s.log = Log(stream=log)

    async def go() -> None:
        three = MONDAY_9.replace(hour=3)
        for at in (MONDAY_9, three + timedelta(days=1), three + timedelta(days=2)):
            clock.at = at
            await s.tick(at)
            await s.drain(60)

    try:
        asyncio.run(go())
    finally:
        s.close()
    [run] = ops.runs(any_store, runbook="restart", statuses=None, limit=10)  # the next day's run did not pile up
    assert run.status == "waiting" and (run.waiting or {}).get("kind") == "confirm"
    assert not marker.exists()
    assert f"runbook restart skipped (run {run.id})" in log.getvalue()


def test_a_checklist_runbook_becomes_due_fires_overdue_after_its_grace_and_a_completed_run_clears_it(
        any_store: Store, tmp_path: Path) -> None:
    write(tmp_path, "weekly", WEEKLY)
    cfg = config(tmp_path, """
alerts:
  maintenance-overdue:
    when: runbook weekly overdue
    annotations: {runbook: weekly}
  any-due:
    when: runbook due
""")
    clock = Clock(MONDAY_9 + timedelta(hours=1))
    [task] = due(any_store, cfg, clock())
    assert (task.runbook, task.state, task.due_at, task.last) == ("weekly", "due", MONDAY_9, None)

    def firing(at: datetime) -> dict[str, str]:
        ev = engine.evaluate(cfg, any_store, at)
        return {a.rule: a.reason for a in ev.alerts if a.state == "firing" and a.labels.get("runbook") == "weekly"}

    now = firing(clock())
    assert set(now) == {"any-due"}  # due, not yet past its 2h grace
    clock.advance(hours=1, seconds=1)
    now = firing(clock())
    assert set(now) == {"any-due", "maintenance-overdue"}
    assert "runbook weekly overdue: due 2026-03-02T09:00:00+00:00" in now["maintenance-overdue"]
    assert "never completed" in now["maintenance-overdue"]

    rec = ops.run(any_store, cfg, find(cfg, "weekly"), {}, "ana", clock=clock,
                  hooks=ops.Hooks(ack=lambda item: True))
    assert rec.run.status == "succeeded"
    clock.advance(minutes=1)
    assert firing(clock()) == {}
    assert due(any_store, cfg, clock()) == []
    [task] = due(any_store, cfg, clock(), everything=True)
    assert task.state == "ok" and task.due_at == MONDAY_9 + timedelta(days=7)
    assert task.last is not None and task.last.operator == "ana"
    clock.at = MONDAY_9 + timedelta(days=7, hours=2, seconds=1)  # a week on, the next occurrence is late
    [task] = due(any_store, cfg, clock())
    assert task.state == "overdue" and task.to_dict(clock())["last_completed"]["operator"] == "ana"


def test_a_dry_run_or_a_run_in_another_environment_does_not_complete_a_due_task(any_store: Store,
                                                                               tmp_path: Path) -> None:
    write(tmp_path, "weekly", WEEKLY)
    cfg = config(tmp_path)
    clock = Clock(MONDAY_9 + timedelta(hours=1))
    ops.run(any_store, cfg, find(cfg, "weekly"), {}, "ana", dry_run=True, clock=clock)
    ops.run(any_store, cfg, find(cfg, "weekly"), {}, "ana", environment="elsewhere", clock=clock,
            hooks=ops.Hooks(ack=lambda item: True))
    [task] = due(any_store, cfg, clock())
    assert task.state == "due" and task.last is None


def test_runbook_due_lists_due_tasks_with_the_last_completion_and_who_did_it(tmp_path: Path) -> None:
    write(tmp_path, "weekly", WEEKLY.replace("grace: 2h", "grace: 400d"))
    write(tmp_path, "nightly", routine("0 3 * * *", "true"))
    (tmp_path / "opsbook.yaml").write_text("version: 1\n")
    r = opsbook("runbook", "due", "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    tasks = {t["runbook"]: t for t in r.json["tasks"]}
    assert tasks["weekly"]["state"] == "due" and tasks["weekly"]["kind"] == "task"
    assert tasks["weekly"]["last_completed"] is None and tasks["nightly"]["kind"] == "routine"
    r = opsbook("runbook", "run", "weekly", "--as", "ana", cwd=tmp_path)
    assert r.code == 4  # waits for its checklist item
    run_id = r.text.split("run ", 1)[1].split()[0]
    assert opsbook("runbook", "ack", run_id, "--as", "ana", cwd=tmp_path).code == 0
    assert opsbook("runbook", "resume", run_id, "--as", "ana", cwd=tmp_path).code == 0
    r = opsbook("runbook", "due", "--all", "--json", cwd=tmp_path)
    weekly = {t["runbook"]: t for t in r.json["tasks"]}["weekly"]
    assert weekly["state"] == "ok" and weekly["last_completed"]["operator"] == "ana"
    assert weekly["last_completed"]["run"] == int(run_id)
    r = opsbook("runbook", "due", cwd=tmp_path)
    assert "weekly" not in r.stdout and "nightly" in r.stdout and "never" in r.stdout


def test_an_overdue_condition_naming_an_unknown_runbook_is_exit_2_with_did_you_mean(tmp_path: Path) -> None:
    write(tmp_path, "weekly", WEEKLY)
    (tmp_path / "opsbook.yaml").write_text("version: 1\nalerts:\n  late: {when: runbook weekyl overdue}\n")
    r = opsbook("config", "validate", cwd=tmp_path)
    assert r.code == 2 and "no runbook named 'weekyl' (did you mean 'weekly'?)" in r.text
    (tmp_path / "opsbook.yaml").write_text("version: 1\nalerts:\n  late: {when: runbook weekly late}\n")
    r = opsbook("config", "validate", cwd=tmp_path)
    assert r.code == 2 and "runbook NAME overdue" in r.text


def test_a_runbook_file_that_does_not_parse_is_not_scheduled_and_the_daemon_says_so_once(any_store: Store,
                                                                                       tmp_path: Path) -> None:
    write(tmp_path, "nightly", routine("0 3 * * *", "true"))
    write(tmp_path, "broken", "---\nschedule: \"not cron\"\n---\n# B\n")
    log = io.StringIO()
    s = scheduler(config(tmp_path), any_store, Clock(MONDAY_9), log)
    try:
        s.apply(s.cfg, MONDAY_9)  # a reload says nothing new
    finally:
        s.close()
    assert set(s.units) >= {"runbook:nightly"} and "runbook:broken" not in s.units
    assert log.getvalue().count("runbook not scheduled: ") == 1 and "broken.md:2" in log.getvalue()


def test_lint_flags_a_routine_runbook_that_a_scheduled_run_could_not_finish_alone(tmp_path: Path) -> None:
    from opsbook.runbooks.lint import lint
    from opsbook.runbooks.steps.registry import STEPS

    write(tmp_path, "restart", "---\nschedule: \"0 3 * * *\"\nparams:\n  service: {required: true}\n---\n# R\n\n"
                               "```sh {name=restart mutates=true confirm=true}\necho ${service}\n```\n")
    write(tmp_path, "weekly", WEEKLY)
    cfg = config(tmp_path)
    found = {(f.code, f.level) for f in lint(find(cfg, "restart"), STEPS, cfg)}
    assert {("scheduled-param", "error"), ("scheduled-confirm", "warning")} <= found
    assert not {f.code for f in lint(find(cfg, "weekly"), STEPS, cfg)} & {"scheduled-param", "scheduled-confirm"}


def test_a_routine_runbook_added_or_removed_while_serving_is_rescheduled_without_a_sighup(
        any_store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    clock = Clock(MONDAY_9)
    s = scheduler(cfg, any_store, clock, io.StringIO())
    try:
        assert not [k for k in s.units if k.startswith("runbook:")]
        write(tmp_path, "nightly", routine("0 3 * * *", "echo run"))
        clock.advance(seconds=1)
        assert s.runbooks_changed() is False  # the directory is looked at every few seconds, not each tick
        clock.advance(seconds=5)
        assert s.runbooks_changed() is True
        s.apply(cfg, clock())
        assert "runbook:nightly" in s.units
        clock.advance(seconds=6)
        assert s.runbooks_changed() is False  # applied: nothing new since
        (tmp_path / "runbooks" / "nightly.md").unlink()
        clock.advance(seconds=6)
        assert s.runbooks_changed() is True
        s.apply(cfg, clock())
        assert "runbook:nightly" not in s.units
    finally:
        s.close()
