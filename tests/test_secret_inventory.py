"""The secret inventory: rotations recorded on both store dialects with an injected clock, due
and overdue, the `secret ... overdue` rule source, a rotation runbook's success recording the
rotation, the audit (undeclared and inline secrets) and the scan. Never a value."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.errors import ConfigErrors, UsageError
from opsbook.ops import runbook as runbook_ops
from opsbook.ops import secrets
from opsbook.rules.engine import evaluate
from opsbook.store import Store
from opsbook.store import secret_rotations as rows
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.runbookrun import T0, Clock, book, sh

TOKEN = "INLINEtok-9c8b7a6f5e4d3c2b1a0f"  # written inline in a config: must never be printed back

INVENTORY = """
environments: {staging: {}, production: {}}
default_env: production
secrets:
  JWT_SECRET:
    owner: backend
    rotate_every: 90d
    environments: [staging, production]
  DB_PASSWORD: {owner: platform, rotate_every: 30d}
  STRIPE_KEY: {owner: payments, environments: [production]}
"""


def test_a_rotation_is_recorded_per_environment_and_sets_the_next_due_date(any_store: Store, tmp_path: Path) -> None:
    cfg = load(INVENTORY, tmp_path).model
    before = {(s.name, s.env): s.overdue for s in secrets.statuses(cfg, any_store, T0)}
    assert before == {("JWT_SECRET", "staging"): True, ("JWT_SECRET", "production"): True,
                      ("DB_PASSWORD", ""): True, ("STRIPE_KEY", "production"): False}  # never rotated: overdue
    row = secrets.rotated(cfg, any_store, "JWT_SECRET", "production", "ana", "new key via fly", T0)
    assert (row.name, row.env, row.by, row.via, row.at) == ("JWT_SECRET", "production", "ana", "cli", T0)
    secrets.rotated(cfg, any_store, "DB_PASSWORD", None, "bo", "", T0 + timedelta(days=1))
    st = {(s.name, s.env): s for s in secrets.statuses(cfg, any_store, T0 + timedelta(days=89))}
    prod = st[("JWT_SECRET", "production")]
    assert prod.due == T0 + timedelta(days=90) and not prod.overdue and prod.last == row
    assert st[("JWT_SECRET", "staging")].overdue  # rotations are per environment
    assert st[("DB_PASSWORD", "")].overdue  # 30d after day 1
    later = {(s.name, s.env): s.overdue for s in secrets.statuses(cfg, any_store, T0 + timedelta(days=90))}
    assert later[("JWT_SECRET", "production")] is True
    with any_store.read() as tx:
        assert [r.note for r in rows.history(tx, "JWT_SECRET")] == ["new key via fly"]


def test_a_rotation_of_an_undeclared_secret_or_environment_is_refused(any_store: Store, tmp_path: Path) -> None:
    cfg = load(INVENTORY, tmp_path).model
    with pytest.raises(UsageError, match="did you mean 'JWT_SECRET'"):
        secrets.rotated(cfg, any_store, "JWT_SECRT", "production", "ana", "", T0)
    with pytest.raises(UsageError, match="no environment named 'staging'"):
        secrets.rotated(cfg, any_store, "STRIPE_KEY", "staging", "ana", "", T0)
    with pytest.raises(UsageError, match="say which"):
        secrets.rotated(cfg, any_store, "JWT_SECRET", None, "ana", "", T0)


OVERDUE = INVENTORY + """
alerts:
  jwt-rotation: {when: secret JWT_SECRET overdue, severity: ticket}
  any-rotation: {when: secret overdue, severity: ticket}
"""


def test_the_secret_overdue_rule_source_fires_per_environment_and_resolves_after_a_rotation(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load(OVERDUE, tmp_path)
    for env in ("staging", "production"):
        secrets.rotated(cfg.model, any_store, "JWT_SECRET", env, "ana", "", T0)
    secrets.rotated(cfg.model, any_store, "DB_PASSWORD", None, "ana", "", T0)
    assert evaluate(cfg, any_store, T0 + timedelta(days=29)).alerts == []
    ev = evaluate(cfg, any_store, T0 + timedelta(days=31))
    assert [(a.rule, a.labels["secret"], a.state) for a in ev.alerts] == [("any-rotation", "DB_PASSWORD", "firing")]
    ev = evaluate(cfg, any_store, T0 + timedelta(days=91))
    jwt = sorted(a.labels["secret_env"] for a in ev.alerts if a.rule == "jwt-rotation")
    assert jwt == ["production", "staging"]
    (a,) = [a for a in ev.alerts if a.rule == "jwt-rotation" and a.labels["secret_env"] == "production"]
    assert a.value == timedelta(days=1).total_seconds() and "opsbook secrets rotated" in a.reason
    secrets.rotated(cfg.model, any_store, "JWT_SECRET", "production", "ana", "", T0 + timedelta(days=92))
    ev = evaluate(cfg, any_store, T0 + timedelta(days=92, minutes=1))
    assert ("jwt-rotation", "resolved") in [(t.rule, t.to_state) for t in ev.transitions]
    firing = {a.labels["secret_env"] for a in ev.alerts if a.rule == "jwt-rotation" and a.state == "firing"}
    assert firing == {"staging"}


def test_an_alert_on_an_undeclared_secret_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load(INVENTORY + "alerts:\n  x: {when: secret JWT_SECRT overdue}\n", tmp_path)
    assert "did you mean 'JWT_SECRET'" in str(e.value)
    with pytest.raises(ConfigErrors, match="secret NAME overdue"):
        load(INVENTORY + "alerts:\n  x: {when: secret JWT_SECRET late}\n", tmp_path)


def test_a_successful_rotation_runbook_records_the_rotation_and_a_failed_one_does_not(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load("runbooks: {step_timeout: 20s}\nsecrets:\n"
               "  JWT_SECRET: {rotate_every: 90d, environments: [staging, production], runbook: rotate-jwt}\n"
               "  OTHER: {runbook: something-else}\n", tmp_path)
    clock = Clock()
    failed = runbook_ops.run(any_store, cfg, book(sh("gen", "exit 1"), name="rotate-jwt"), {}, "ana",
                             environment="production", clock=clock)
    assert failed.run.status != "succeeded"
    dry = runbook_ops.run(any_store, cfg, book(sh("gen", "true"), name="rotate-jwt"), {}, "ana",
                          environment="production", clock=clock, dry_run=True)
    assert dry.run.status == "succeeded"
    with any_store.read() as tx:
        assert rows.latest(tx) == {}
    clock.advance(hours=1)
    rec = runbook_ops.run(any_store, cfg, book(sh("gen", "true"), name="rotate-jwt"), {}, "ana",
                          environment="production", clock=clock)
    assert rec.run.status == "succeeded"
    with any_store.read() as tx:
        latest = rows.latest(tx)
    assert list(latest) == [("JWT_SECRET", "production")]
    r = latest[("JWT_SECRET", "production")]
    assert (r.via, r.by, r.run_id, r.at) == ("runbook", "ana", rec.run.id, T0 + timedelta(hours=1))


def test_a_secret_naming_a_runbook_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rotate-jwt-secret.md").write_text("# Rotate\n")
    with pytest.raises(ConfigErrors) as e:
        load("secrets:\n  JWT_SECRET: {runbook: rotate-jwt}\n", tmp_path)
    assert "secrets.JWT_SECRET.runbook" in str(e.value) and "did you mean 'rotate-jwt-secret'" in str(e.value)


def test_audit_lists_references_undeclared_and_inline_secrets_without_their_values(
        tmp_path: Path, any_store: Store) -> None:
    cfg_path = tmp_path / "opsbook.yaml"
    cfg_path.write_text(INVENTORY + f"""
store: {{url: {{env: STORE_URL_UNDECLARED}}}}
resources:
  api: {{kind: http, url: "http://127.0.0.1:1", headers: {{Authorization: {{env: JWT_SECRET}}}}}}
notify:
  receivers:
    hook: {{webhook: {{url: "http://127.0.0.1:1/hook", headers: {{X-Token: "{TOKEN}"}}}}}}
""")
    r = opsbook("secrets", "audit", "-c", str(cfg_path), "--store", "sqlite:///" + str(tmp_path / "s.db"),
                "--json", env={"JWT_SECRET": "x" * 40})
    assert r.code == 1, r.text
    doc = r.json
    jwt = [s for s in doc["secrets"] if s["name"] == "JWT_SECRET"]
    assert jwt[0]["references"] == ["resources.api.headers.Authorization"]
    assert [u["name"] for u in doc["undeclared"]] == ["STORE_URL_UNDECLARED"]
    assert doc["inline"] and doc["inline"][0]["path"] == "notify.receivers.hook.webhook.headers.X-Token"
    human = opsbook("secrets", "audit", "-c", str(cfg_path), "--store", "sqlite:///" + str(tmp_path / "s.db"))
    assert "STORE_URL_UNDECLARED is referenced" in human.text
    assert TOKEN not in r.text + human.text


def test_secrets_rotated_on_the_cli_records_then_list_shows_the_due_date(tmp_path: Path) -> None:
    cfg_path = tmp_path / "opsbook.yaml"
    cfg_path.write_text(INVENTORY)
    store = ["--store", "sqlite:///" + str(tmp_path / "s.db")]
    r = opsbook("secrets", "rotated", "JWT_SECRET", "-c", str(cfg_path), "--env", "staging", "--note", "rolled",
                "--at", "2026-03-01T12:00:00Z", "--json", *store)
    assert r.code == 0, r.text
    assert r.json["via"] == "cli" and r.json["env"] == "staging" and r.json["note"] == "rolled"
    listed = opsbook("secrets", "list", "-c", str(cfg_path), "--at", "2026-03-02T00:00:00Z", "--json", *store)
    (st,) = [s for s in listed.json["secrets"] if s["name"] == "JWT_SECRET" and s["env"] == "staging"]
    assert st["due"] == "2026-05-30T12:00:00+00:00" and st["overdue"] is False
    bad = opsbook("secrets", "rotated", "JWT", "-c", str(cfg_path), "--env", "staging", *store)
    assert bad.code == 2 and "no secret named 'JWT'" in bad.stderr


def test_scan_reports_file_line_and_type_and_never_the_secret(tmp_path: Path) -> None:
    leak = "ghp_" + "Zq7Yx3Wv9Ut5Sr1Qp8On4Ml2Kj6Ih0Gf" + "Ed3C"
    (tmp_path / "settings.py").write_text(f"DEBUG = True\nGITHUB_TOKEN = \"{leak}\"\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    r = opsbook("secrets", "scan", str(tmp_path), "--json")
    assert r.code == 1, r.text
    findings = r.json["findings"]
    assert {(Path(f["file"]).name, f["line"]) for f in findings} == {("settings.py", 2)}
    assert "GitHub Token" in {f["type"] for f in findings}
    human = opsbook("secrets", "scan", str(tmp_path / "clean.txt"))
    assert human.code == 0 and "no secrets found" in human.text
    assert leak not in r.text + json.dumps(findings)
