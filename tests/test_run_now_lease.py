"""The API's run-now takes the unit's lease like the scheduler does: a manual run never overlaps a
scheduled one (or one on another replica); a unit whose lease is held answers 409."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsbook.daemon import leases
from opsbook.daemon.log import Log
from opsbook.daemon.scheduler import Scheduler
from opsbook.store import Store
from opsbook.web.app import create_app
from tests.support.helpers import load
from tests.support.webutil import bearer, context, set_tokens

CONFIG = """
checks:
  ok: {command: {run: "true"}, every: 1h}
api:
  tokens:
    admin: {token: {env: OPSBOOK_T_ADMIN}, role: admin}
    on-call: {token: {env: OPSBOOK_T_ONCALL}, role: operator}
"""


def test_run_now_on_a_unit_whose_lease_is_held_is_409_and_runs_nothing(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch)
    cfg = load(CONFIG, tmp_path)
    store = Store.open(cfg.store_url())
    sched = Scheduler(cfg, store, log=Log(stream=io.StringIO()))  # writes the schedule rows
    (row,) = [r for r in leases.rows(store) if r.kind == "check"]
    # another replica claims the unit the way the scheduler does, and is running it
    soon = datetime.now(UTC) + timedelta(seconds=5)
    assert [c.unit_key for c in leases.claim_due(store, "replica-b", {row.unit_key}, soon, 300)] == [row.unit_key]
    with TestClient(create_app(context(cfg, store, run_now=sched.run_now))) as client:
        busy = client.post("/api/v1/checks/ok/run", headers=bearer("on-call"))
        assert busy.status_code == 409, busy.text
        doc = busy.json()
        assert doc["schema"] == "opsbook.error/1" and doc["error"]["type"] == "Conflict"
        assert doc["error"]["retryable"] is True and "running now" in doc["error"]["message"]
        assert store.history("ok") == []  # nothing ran
        # the replica finishes: run-now takes the lease, runs the check, and gives the lease back
        leases.release(store, "replica-b")
        ran = client.post("/api/v1/checks/ok/run", headers=bearer("on-call"))
        assert ran.status_code == 200, ran.text
        assert ran.json()["kind"] == "check" and ran.json()["status"] == "pass"
    assert len(store.history("ok")) == 1
    (after,) = [r for r in leases.rows(store) if r.kind == "check"]
    assert after.lease_owner is None and after.next_due == row.next_due  # the schedule is as it was
    assert not sched.inflight
    store.close()
