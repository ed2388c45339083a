"""SVG charts are pure functions; `opsbook export grafana` writes a dashboard over the /metrics names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from opsbook.cli import cli
from opsbook.web import charts

T = datetime(2026, 11, 23, tzinfo=UTC)


def test_line_chart_draws_a_polyline_per_run_and_breaks_at_gaps() -> None:
    svg = str(charts.line_chart({"avg": [(T, 10.0), (T + timedelta(minutes=1), 20.0), (T + timedelta(minutes=2), None),
                                         (T + timedelta(minutes=3), 30.0), (T + timedelta(minutes=4), 40.0)]},
                                title="latency <of> x", target=35.0))
    assert svg.count("<polyline") == 2 and 'class="target"' in svg
    assert "latency &lt;of&gt; x" in svg  # titles are escaped


def test_line_chart_without_points_says_no_data() -> None:
    assert "no data yet" in str(charts.line_chart({"avg": []}, title="t"))


def test_uptime_strip_colours_each_period_and_meter_fills_to_the_fraction() -> None:
    svg = str(charts.uptime_strip([("d1", 1.0), ("d2", 0.995), ("d3", 0.5), ("d4", None)]))
    assert [c for c in ("good", "degraded", "bad", "nodata") if f'class="{c}"' in svg] == \
        ["good", "degraded", "bad", "nodata"]
    assert 'width="32"' in str(charts.meter(0.5, "24h", width=64))


def test_export_grafana_writes_a_dashboard_over_the_metric_names(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text("project: shop\n")
    out = tmp_path / "dash.json"
    r = CliRunner().invoke(cli, ["export", "grafana", "-c", str(cfg), "-o", str(out), "--job", "ops"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    exprs = " ".join(t["expr"] for p in doc["panels"] for t in p["targets"])
    for name in ("probe_success", "probe_duration_seconds", "opsbook_backup_last_success_timestamp_seconds",
                 "opsbook_drill_last_success_timestamp_seconds", "opsbook_slo_error_budget_remaining_ratio",
                 'job="ops"'):
        assert name in exprs
    assert doc["title"] == "opsbook: shop"
