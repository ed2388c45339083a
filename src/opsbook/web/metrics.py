"""/metrics in the Prometheus text format, computed per scrape from the store.

Names follow blackbox_exporter where they mean the same (``probe_success``,
``probe_duration_seconds{phase}``), so existing dashboards and alerts carry over.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ..config.load import Config
from ..results import STATUSES
from ..rules import engine, slo
from ..store.store import Store
from . import data


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(str(v))}"' for k, v in kv.items()) + "}"


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        # 15 significant digits: a Unix timestamp keeps its milliseconds (6 would round it by hours)
        self.lines.append(f"{name}{_labels(**labels) if labels else ''} {value:.15g}")


def exposition(cfg: Config, store: Store, now: datetime) -> str:
    o = _Out()
    rows = data.check_rows(cfg, store, now, with_uptime=False)
    latest = data.latest_results(store)
    o.family("probe_success", "gauge", "1 when the check's last result passed (pass or warn)")
    for r in rows:
        if r.status != "nodata":
            o.sample("probe_success", 1 if r.status in ("pass", "warn") else 0, check=r.name, env=r.env, kind=r.kind)
    o.family("probe_duration_seconds", "gauge", "duration of the check's last probe, by phase")
    for r in rows:
        doc: dict[str, Any] = latest.get((r.name, r.env)) or {}
        phases = (doc.get("observations") or {}).get("phases")
        if isinstance(phases, dict):
            for phase, ms in phases.items():
                if isinstance(ms, int | float):
                    o.sample("probe_duration_seconds", ms / 1000, check=r.name, env=r.env, kind=r.kind, phase=phase)
        elif doc:
            o.sample("probe_duration_seconds", float(doc.get("duration_ms", 0)) / 1000, check=r.name, env=r.env,
                     kind=r.kind, phase="total")
    o.family("opsbook_check_status", "gauge", "1 for the check's current status")
    for r in rows:
        if r.status != "nodata":
            for s in STATUSES:
                o.sample("opsbook_check_status", 1 if r.status == s else 0, check=r.name, env=r.env, status=s)
    o.family("opsbook_check_status_since_timestamp_seconds", "gauge", "when the check's status last changed")
    for r in rows:
        if r.since is not None:
            o.sample("opsbook_check_status_since_timestamp_seconds", r.since.timestamp(), check=r.name, env=r.env)
    _jobs(o, cfg, store)
    _slos_alerts(o, cfg, store, now)
    return "\n".join(o.lines) + "\n"


def _last_ok(store: Store, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in store.runs(kind=kind, limit=500):
        if r["ok"] and r["name"] not in out:
            out[r["name"]] = r
    return out


# per job kind: which names, the last success's help text, and one figure from its run detail
_JOB_METRICS = (
    ("backup", "backups", "end of the last successful backup",
     "opsbook_backup_last_size_bytes", "size of the last successful backup", "size"),
    ("drill", "drills", "end of the last passing restore drill",
     "opsbook_drill_last_rto_seconds", "measured recovery time of the last passing drill", "rto_s"),
)


def _jobs(o: _Out, cfg: Config, store: Store) -> None:
    for kind, section, when_help, figure, figure_help, detail_key in _JOB_METRICS:
        last = _last_ok(store, kind)
        success = f"opsbook_{kind}_last_success_timestamp_seconds"
        o.family(success, "gauge", when_help)
        o.family(figure, "gauge", figure_help)
        for name in getattr(cfg.model, section):
            r = last.get(name)
            if r:
                o.sample(success, (r["finished_at"] or r["started_at"]).timestamp(), **{kind: name})
                value = (r["detail"] or {}).get(detail_key)
                if isinstance(value, int | float):
                    o.sample(figure, value, **{kind: name})


def _slos_alerts(o: _Out, cfg: Config, store: Store, now: datetime) -> None:
    if cfg.model.slos:
        o.family("opsbook_slo_error_budget_remaining_ratio", "gauge", "error budget left in the SLO window (1 = all)")
        for s in slo.status(cfg, store, now):
            if getattr(s, "error", None) is None:
                o.sample("opsbook_slo_error_budget_remaining_ratio", float(s.remaining), slo=s.name)
    counts = Counter(a.state for a in engine.current_alerts(store))
    o.family("opsbook_alerts", "gauge", "alert instances by state")
    for state in ("pending", "firing"):
        o.sample("opsbook_alerts", counts.get(state, 0), state=state)
