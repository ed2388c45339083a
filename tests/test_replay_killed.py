"""A replay killed mid-run (a real child process, SIGKILL) is interrupted, and resume sends each
remaining event once: the receiver, which dedups by idempotency key, sees every event, and none
the record says was delivered is sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from opsbook.store import Store
from opsbook.store import replay_runs as rows
from tests.support.clirun import opsbook
from tests.support.replayutil import config, receiver, write_events

ROOT = Path(__file__).resolve().parent.parent
N = 2000


def _delivered(store: Store) -> int:
    with store.read() as tx:
        run = rows.get_run(tx, 1)
    return run.delivered if run else 0


def test_a_killed_replay_resumes_without_resending_what_it_delivered(any_store: Store, tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", N)
    with receiver() as rec:
        # a rate keeps the run going long enough to be killed in the middle
        cfg = config(tmp_path, rec.url, "{jsonl: {path: events.jsonl, key: id}}", extra="    rate: 400\n")
        child = subprocess.Popen([sys.executable, "-m", "opsbook", "replay", "run", "hooks", "-c", str(cfg),
                                  "--store", any_store.url], cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 120
            while _delivered(any_store) < 400:
                assert child.poll() is None, "the replay ended before it was killed"
                assert time.monotonic() < deadline, "timed out waiting for the replay to make progress"
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        with any_store.read() as tx:
            before = {e.key for e in rows.events(tx, 1, "delivered", limit=N)}
        assert 400 <= len(before) < N
        status = opsbook("replay", "status", "1", "--json", "-c", str(cfg), "--store", any_store.url)
        assert status.json["status"] == "interrupted"  # its runner's pid is gone
        r = opsbook("replay", "resume", "1", "--json", "-c", str(cfg), "--store", any_store.url)
        assert r.code == 0, r.text
    assert r.json["counts"] == {"delivered": N, "failed": 0, "skipped": 0}
    assert rec.unique == N and rec.bad_signatures == 0  # none missing
    assert all(rec.attempts[k] == 1 for k in before)  # nothing recorded delivered was sent again
    resent = sum(rec.attempts.values()) - N  # only events in flight when it was killed (no outcome yet)
    assert 0 <= resent <= 256
    with any_store.read() as tx:
        keys = [e.key for e in rows.events(tx, 1, limit=2 * N)]
    assert len(keys) == len(set(keys)) == N  # one outcome per event
