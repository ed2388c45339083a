"""The rules commands as a user runs them: exit codes, JSON documents, recorded gate runs and overrides."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from opsbook.results import utcnow
from opsbook.store import Store
from tests.support.clirun import opsbook
from tests.support.rulesutil import bulk, minutes, record, result

CONFIG = """
checks:
  api: {command: {run: "true"}}
heartbeats:
  worker: {every: 5m, grace: 1m}
alerts:
  api-down: {when: check api failing, severity: page, annotations: {summary: API down}}
slos:
  api-availability: {objective: 99%, window: 7d, check: api, freeze_at: 90%}
resources:
  prom: {kind: prometheus, url: "http://127.0.0.1:9"}
"""


def setup(tmp_path: Path, bad_share: int) -> tuple[Path, str]:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    now = utcnow()
    # 1000 results in the last ~17 hours, bad_share of them bad, oldest first
    bulk(store, "api", now - timedelta(minutes=1000), now - minutes(0.5), timedelta(minutes=1),
         bad=lambda i, at: i < bad_share)
    record(store, result("api", "fail", now - timedelta(seconds=10)))
    store.close()
    return cfg, url


def test_alerts_eval_fires_stores_and_status_reports_it_with_exit_1(tmp_path: Path) -> None:
    cfg, url = setup(tmp_path, 0)
    r = opsbook("alerts", "eval", "--json", "--config", str(cfg), "--store", url)
    assert r.code == 0, r.text
    doc = r.json
    assert doc["schema"] == "opsbook.alerts-eval/1" and doc["firing"] == 1
    (alert,) = [a for a in doc["alerts"] if a["rule"] == "api-down"]
    assert alert["state"] == "firing" and alert["labels"]["check"] == "api"
    s = opsbook("alerts", "status", "--json", "--config", str(cfg), "--store", url)
    assert s.code == 1 and s.json["firing"] == 1 and s.json["alerts"][0]["rule"] == "api-down"
    text = opsbook("alerts", "status", "--config", str(cfg), "--store", url)
    assert "firing" in text.stdout and "api-down" in text.stdout and "Traceback" not in text.text


def test_gate_budget_refuses_over_90_percent_and_a_recorded_override_lets_it_pass(tmp_path: Path) -> None:
    cfg, url = setup(tmp_path, 10)  # 11 bad of 1001 at 99 %: 110 % of the budget consumed
    r = opsbook("gate", "budget", "api-availability", "--max-consumed", "90%", "--json", "--config", str(cfg),
                "--store", url)
    assert r.code == 1, r.text
    assert r.json["ok"] is False and r.json["consumed"] > 0.9 and r.json["override"] is None
    bad = opsbook("gate", "budget", "api-availability", "--override", "--config", str(cfg), "--store", url)
    assert bad.code == 2 and "--reason" in bad.stderr
    ok = opsbook("gate", "budget", "api-availability", "--override", "--reason", "hotfix INC-42", "--expires", "2h",
                 "--by", "alice", "--config", str(cfg), "--store", url)
    assert ok.code == 0, ok.text
    assert "overridden by alice" in ok.stdout and "hotfix INC-42" in ok.stdout
    again = opsbook("gate", "budget", "api-availability", "--json", "--config", str(cfg), "--store", url)
    assert again.code == 0 and again.json["override"]["by"] == "alice"
    store = Store.open(url)
    try:
        runs = store.runs("gate", name="budget")
        assert [r["ok"] for r in runs] == [True, True, False]
    finally:
        store.close()


def test_slo_status_shows_the_formula_with_the_counted_events(tmp_path: Path) -> None:
    cfg, url = setup(tmp_path, 5)
    r = opsbook("slo", "status", "--json", "--config", str(cfg), "--store", url)
    assert r.code == 0, r.text
    (s,) = r.json["slos"]
    assert s["events"] == {"total": 1001, "good": 995, "bad": 6}
    assert "6 / (0.01 x 1001)" in s["formula"] and [t["tier"] for t in s["tiers"]] == ["14.4x", "6x", "3x", "1x"]
    assert opsbook("slo", "status", "nope", "--config", str(cfg), "--store", url).code == 2


def test_ping_records_and_unknown_heartbeat_is_exit_2(tmp_path: Path) -> None:
    cfg, url = setup(tmp_path, 0)
    assert opsbook("ping", "worker", "--config", str(cfg), "--store", url).code == 0
    hb = opsbook("heartbeats", "status", "--json", "--config", str(cfg), "--store", url)
    assert hb.code == 0 and hb.json["heartbeats"][0]["status"] == "up"
    r = opsbook("ping", "nope", "start", "--config", str(cfg), "--store", url)
    assert r.code == 2 and "no heartbeat named 'nope'" in r.stderr and "Traceback" not in r.text


def test_slo_export_prometheus_writes_rules_and_lists_what_it_skipped(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(CONFIG.replace("slos:\n", """slos:
  http-errors:
    objective: 99.9%
    prometheus: {resource: prom, total: 'http_requests_total', bad: 'http_requests_total{status=~"5.."}'}
"""))
    out = tmp_path / "rules.yml"
    r = opsbook("slo", "export", "prometheus", "--out", str(out), "--config", str(cfg))
    assert r.code == 0, r.text
    doc = yaml.safe_load(out.read_text())
    (group,) = doc["groups"]
    names = [x.get("record") or x.get("alert") for x in group["rules"]]
    assert "slo:sli_error:ratio_rate1h" in names and "http-errors-burn-14.4x" in names
    page = next(x for x in group["rules"] if x.get("alert") == "http-errors-burn-14.4x")
    assert "> (14.4 * 0.001)" in page["expr"] and page["labels"]["severity"] == "page"
    assert "skipped: slo api-availability" in r.stderr
