"""A Grafana dashboard (JSON model) over the /metrics names, for `opsbook export grafana`."""

from __future__ import annotations

from typing import Any


def _panel(pid: int, title: str, expr: str, kind: str, x: int, y: int, w: int = 12, h: int = 8,
           unit: str = "short", legend: str = "") -> dict[str, Any]:
    return {"id": pid, "type": kind, "title": title, "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}]}


def dashboard(project: str, job: str = "opsbook") -> dict[str, Any]:
    sel = f'job="{job}"'
    panels = [
        _panel(1, "Checks failing", f"count(probe_success{{{sel}}} == 0) or vector(0)", "stat", 0, 0, 6, 4),
        _panel(2, "Alerts firing", f'sum(opsbook_alerts{{{sel},state="firing"}})', "stat", 6, 0, 6, 4),
        _panel(3, "Hours since last good backup",
               f"(time() - max by (backup) (opsbook_backup_last_success_timestamp_seconds{{{sel}}})) / 3600",
               "stat", 12, 0, 6, 4, "h", "{{backup}}"),
        _panel(4, "Days since last passing drill",
               f"(time() - max by (drill) (opsbook_drill_last_success_timestamp_seconds{{{sel}}})) / 86400",
               "stat", 18, 0, 6, 4, "d", "{{drill}}"),
        _panel(5, "Check success", f"probe_success{{{sel}}}", "state-timeline", 0, 4, 24, 10, "short",
               "{{check}} {{env}}"),
        _panel(6, "Probe duration (total)", f'probe_duration_seconds{{{sel},phase="total"}}', "timeseries", 0, 14,
               12, 8, "s", "{{check}}"),
        _panel(7, "SLO error budget remaining", f"opsbook_slo_error_budget_remaining_ratio{{{sel}}}", "bargauge",
               12, 14, 12, 8, "percentunit", "{{slo}}"),
        _panel(8, "Drill RTO", f"opsbook_drill_last_rto_seconds{{{sel}}}", "timeseries", 0, 22, 12, 8, "s",
               "{{drill}}"),
        _panel(9, "Backup size", f"opsbook_backup_last_size_bytes{{{sel}}}", "timeseries", 12, 22, 12, 8, "bytes",
               "{{backup}}"),
    ]
    return {
        "title": f"opsbook: {project}", "uid": f"opsbook-{project}"[:40], "schemaVersion": 39, "version": 1,
        "tags": ["opsbook"], "time": {"from": "now-24h", "to": "now"}, "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }
