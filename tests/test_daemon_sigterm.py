"""SIGTERM ends `opsbook serve` after `serve.drain_timeout` even while a delivery is stuck in a
receiver that never answers, and the next process delivers what was in flight."""

from __future__ import annotations

import signal
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsbook.notify import outbox
from opsbook.store import Store
from tests.support.daemonutil import serving, wait_for
from tests.support.hungutil import peer

# a bound on a wait, not a speed assertion: the drain timeout is 1 s, the stuck send would take 120 s
EXIT_BOUND = 30


def config(path: Path, url: str) -> Path:
    path.write_text(textwrap.dedent(f"""
        version: 1
        notify:
          route: {{receiver: pager}}
          receivers:
            pager: {{webhook: {{url: "{url}/hook", timeout: 120s}}}}
        serve: {{tick: 0.2s, lease: 1s, jitter: 0, outbox_every: 0.5s, drain_timeout: 1s}}
    """))
    return path


def page(store: Store) -> None:
    with store.db.transaction() as tx:
        outbox.enqueue(tx, dedup_key="page-1", group_key="g", receiver="pager", kind="firing",
                       payload={"id": "page-1", "status": "firing", "title": "db down"}, now=datetime.now(UTC))


@pytest.mark.slow
def test_sigterm_exits_0_after_the_drain_timeout_while_a_receiver_hangs_and_the_next_process_delivers(
        tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
    try:
        page(store)
        with peer("hang") as receiver:
            cfg = config(tmp_path / "opsbook.yaml", receiver.url)
            with serving(cfg, "--no-web", name="first") as first:
                wait_for(lambda: receiver.accepted >= 1, 15, "the delivery to reach the receiver", first.log)
                first.signal(signal.SIGTERM)
                assert first.wait(EXIT_BOUND) == 0, first.log()
                assert "abandoned" in first.log()
            (row,) = outbox.rows(store)
            assert row.status == "pending"  # not lost: still to be sent

            receiver.mode = "ok"
            with serving(cfg, "--no-web", name="second") as second:
                wait_for(lambda: outbox.rows(store)[0].status == "delivered", 15, "the second process to deliver",
                         second.log)
                second.signal(signal.SIGTERM)
                assert second.wait(EXIT_BOUND) == 0, second.log()
            assert [b["id"] for b in receiver.bodies] == ["page-1"]
    finally:
        store.close()
