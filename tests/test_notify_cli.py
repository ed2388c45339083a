"""`opsbook notify ...`, `opsbook silence ...` and `opsbook alerts ack` as a user runs them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from opsbook.notify.pipeline import process
from opsbook.results import utcnow
from opsbook.store import Store
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.notifyutil import alert, recorder

SECRET = "cli-hook-secret-0042"


def write(tmp_path: Path, url: str) -> Path:
    p = tmp_path / "opsbook.yaml"
    p.write_text(textwrap.dedent(f"""
        store: {{url: "sqlite:///{tmp_path / 'store.db'}"}}
        notify:
          route: {{receiver: hook, group_wait: 0s}}
          receivers:
            hook: {{webhook: {{url: "{url}/hook", secret: {{env: HOOK_SECRET}}}}}}
            broken: {{webhook: {{url: "{url}/missing"}}}}
            pager: {{pagerduty: {{routing_key: {{env: HOOK_SECRET}}, url: "{url}/v2/enqueue"}}}}
        """))
    return p


def test_notify_test_delivers_and_reports_the_receipt_or_exit_1_with_a_hint(tmp_path: Path) -> None:
    env = {"HOOK_SECRET": SECRET}
    with recorder() as (rec, url):
        cfg = str(write(tmp_path, url))
        ok = opsbook("notify", "test", "hook", "--config", cfg, "--json", env=env)
        assert ok.code == 0, ok.text
        assert ok.json["schema"] == "opsbook.notify-test/1" and ok.json["receipt"]["http_status"] == 200
        assert rec.requests[0]["json"]["kind"] == "test"
        rec.fail = 404
        bad = opsbook("notify", "test", "broken", "--config", cfg, env=env)
        assert bad.code == 1 and "HTTP 404" in bad.stderr and "hint:" in bad.stderr
        pd = opsbook("notify", "test", "pager", "--config", cfg, env=env)
        assert pd.code == 1 and SECRET not in pd.text
        status = opsbook("notify", "status", "--config", cfg, "--json", env=env)
        by_name = {r["name"]: r for r in status.json["receivers"]}
        assert by_name["hook"]["ok"] and not by_name["broken"]["ok"]
    assert opsbook("notify", "test", "nope", "--config", cfg, env=env).code == 2


def test_silence_add_list_expire_round_trip(tmp_path: Path) -> None:
    cfg = str(write(tmp_path, "http://127.0.0.1:9"))
    added = opsbook("silence", "add", "--match", "alertname=api-not-ready", "--match", "env=production",
                    "--duration", "2h", "--comment", "deploy", "--author", "ana", "--config", cfg, "--json")
    assert added.code == 0, added.text
    sid = added.json["id"]
    assert added.json["state"] == "active" and added.json["author"] == "ana"
    listed = opsbook("silence", "list", "--config", cfg, "--json")
    assert [s["id"] for s in listed.json["silences"]] == [sid]
    assert opsbook("silence", "expire", sid[:6], "--config", cfg).code == 0
    assert opsbook("silence", "list", "--config", cfg, "--json").json["silences"] == []
    assert opsbook("silence", "list", "--all", "--config", cfg, "--json").json["silences"][0]["state"] == "expired"
    bad = opsbook("silence", "add", "--match", "no-operator", "--comment", "x", "--config", cfg)
    assert bad.code == 2 and "not a matcher" in bad.stderr


def test_alerts_ack_acknowledges_the_group_and_pages_pagerduty(tmp_path: Path) -> None:
    env = {"HOOK_SECRET": SECRET}
    with recorder() as (rec, url):
        path = write(tmp_path, url)
        path.write_text(path.read_text().replace("receiver: hook", "receiver: pager"))
        cfg = load(path.read_text(), tmp_path)
        store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
        process(cfg, store, [alert("api-down")], utcnow())
        store.close()
        groups = opsbook("notify", "groups", "--config", str(path), "--json", env=env).json["groups"]
        acked = opsbook("alerts", "ack", groups[0]["id"], "--comment", "on it", "--by", "ana",
                        "--config", str(path), "--json", env=env)
        assert acked.code == 0, acked.text
        assert acked.json["enqueued"] == ["pager"] and acked.json["delivery"]["delivered"] >= 1
        assert "acknowledge" in [r["json"]["event_action"] for r in rec.requests]
        assert opsbook("notify", "groups", "--config", str(path), "--json",
                       env=env).json["groups"][0]["acked_by"] == "ana"
        outbox = opsbook("notify", "outbox", "--config", str(path), "--json", env=env)
        assert {r["kind"] for r in outbox.json["rows"]} == {"firing", "acknowledge"}
        assert opsbook("alerts", "ack", "ffffffffffff", "--config", str(path), env=env).code == 2
