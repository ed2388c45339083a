"""A runner killed mid-step (SIGKILL, a real child process): the run shows interrupted once
its heartbeat is stale, and resume continues at that step without repeating completed ones."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.errors import RunbookRunConflict
from opsbook.ops import runbook as ops
from opsbook.store import Store
from tests.support.runbookrun import config, statuses

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from opsbook.ops import runbook as ops
    from opsbook.store import Store
    from tests.support.runbookrun import book, config, sh

    url, d = sys.argv[1], Path(sys.argv[2])
    ops.run(Store.open(url), config(d), the_book(d), {}, "ana")
""")
BOOK = textwrap.dedent("""
    def the_book(d):
        return book(sh("one", f"echo x >> {d}/count"),
                    sh("two", f"test -f {d}/fixed || {{ echo $$ > {d}/pid; exec sleep 600; }}"),
                    sh("three", "echo three"))
""")


def _the_book(d: Path) -> object:
    scope: dict[str, object] = {}
    exec("from tests.support.runbookrun import book, sh\n" + BOOK, scope)
    return scope["the_book"](d)  # type: ignore[operator]


def _wait_for(cond: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_runner_leaves_the_run_interrupted_and_resume_continues_at_that_step(any_store: Store,
                                                                                     tmp_path: Path) -> None:
    d = tmp_path
    child = subprocess.Popen([sys.executable, "-c", BOOK + CHILD, any_store.url, str(d)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        _wait_for(lambda: (d / "pid").exists() and (d / "pid").read_text().strip(), "step two to start")
        (run,) = ops.runs(any_store)
        assert run.status == "running" and run.current_step == "two"
        with pytest.raises(RunbookRunConflict, match="is running") as e:
            ops.resume(any_store, config(d), _the_book(d), run.id, "ana")  # type: ignore[arg-type]
        assert "its runner is alive" in e.value.hint
        child.kill()  # SIGKILL: no cleanup, no final write
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if (d / "pid").exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int((d / "pid").read_text()), signal.SIGKILL)
    later = lambda: datetime.now(UTC) + timedelta(minutes=5)  # noqa: E731 - the heartbeat is stale by then
    assert ops.runs(any_store, clock=lambda: datetime.now(UTC))[0].status == "running"  # not stale yet: still running
    (run,) = ops.runs(any_store, clock=later)
    assert run.status == "interrupted" and run.current_step == "two"
    rec = ops.record(any_store, run.id)
    assert statuses(rec) == [("one", "ok"), ("two", "error")] and "interrupted" in (rec.steps[1].error or "")

    (d / "fixed").touch()
    rec = ops.resume(any_store, config(d), _the_book(d), run.id, "ana", clock=later)  # type: ignore[arg-type]
    assert rec.run.status == "succeeded"
    assert [(s.name, s.attempt, s.status) for s in rec.steps] == [
        ("one", 1, "ok"), ("two", 1, "error"), ("two", 2, "ok"), ("three", 1, "ok")]
    assert (d / "count").read_text() == "x\n"  # step one ran once
