"""Apprise URLs, tested with Apprise's json:// scheme against a local HTTP server."""

from __future__ import annotations

from pathlib import Path

from opsbook.notify import outbox
from opsbook.notify.pipeline import deliver_due, process
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, alert, minutes, recorder, sqlite_store

__all__ = ["sqlite_store"]


def test_apprise_json_url_receives_title_and_body_for_firing_and_resolved(sqlite_store: Store,
                                                                            tmp_path: Path) -> None:
    with recorder() as (rec, url):
        host = url.removeprefix("http://")
        cfg = load(f"""
            notify:
              route: {{receiver: chat, group_wait: 0s}}
              receivers:
                chat: {{apprise: "json://{host}/chat"}}
            """, tmp_path)
        process(cfg, sqlite_store, [alert("api-down", env="prod")], T0)
        deliver_due(cfg, sqlite_store, T0)
        process(cfg, sqlite_store, [alert("api-down", "resolved", env="prod")], T0 + minutes(6))
        deliver_due(cfg, sqlite_store, T0 + minutes(6))
    docs = [r["json"] for r in rec.requests]
    assert [d["title"].split()[0] for d in docs] == ["[FIRING:1]", "[RESOLVED]"]
    assert "api-down is broken" in docs[0]["message"] and rec.requests[0]["path"] == "/chat"
    assert {r.status for r in outbox.rows(sqlite_store)} == {"delivered"}


def test_apprise_failure_is_retried_and_the_url_is_not_in_the_error(sqlite_store: Store, tmp_path: Path) -> None:
    with recorder() as (rec, url):
        rec.fail = 503
        host = url.removeprefix("http://")
        cfg = load(f"""
            notify:
              route: {{receiver: chat, group_wait: 0s}}
              receivers:
                chat: {{apprise: {{urls: ["json://user:tok3n-s3cret@{host}/chat"]}}}}
            """, tmp_path)
        process(cfg, sqlite_store, [alert("api-down")], T0)
        assert deliver_due(cfg, sqlite_store, T0)["failed"] == 1
        rec.fail = None
        assert deliver_due(cfg, sqlite_store, T0 + minutes(1))["delivered"] == 1
    with sqlite_store.db.transaction() as tx:
        assert "tok3n-s3cret" not in str(tx.all("SELECT * FROM notify_outbox"))
