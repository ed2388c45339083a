"""A canary rollout's record as Markdown: the verdict, every analysis' metrics and comparisons, the
measurements and the events (steps, decisions, commands with their exit codes). Built from the
store's rows (store/rollouts.py), so a past rollout renders the same as the one just run."""

from __future__ import annotations

from typing import Any

from ..store.rollouts import EventRow, MeasurementRow, RolloutRow
from .markdown import cell


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return cell(v)


def markdown(row: RolloutRow, measurements: list[MeasurementRow], events: list[EventRow]) -> str:
    out = [f"# Canary {row.canary}: {row.status}", "",
           f"- **Rollout:** #{row.id}", f"- **Canary:** {row.canary_url}", f"- **Baseline:** {row.baseline_url}",
           f"- **Started:** {row.started_at.isoformat()}",
           f"- **Finished:** {row.finished_at.isoformat() if row.finished_at else '(running)'}",
           f"- **Reason:** {_cell(row.reason) if row.reason else '-'}"]
    if row.score is not None:
        out.append(f"- **Score:** {row.score:g}")
    for analysis in row.detail.get("analyses", []):
        out += ["", f"## Step {analysis['step']}: {analysis['decision']}", "", _cell(analysis["reason"]), "",
                "| metric | phase | taken | successful | failed | inconclusive | errors | message |",
                "|---|---|---|---|---|---|---|---|"]
        for m in analysis["metrics"].values():
            out.append(f"| {m['name']} | {m['phase']} | {m['taken']} | {m['successful']} | {m['failed']} | "
                       f"{m['inconclusive']} | {m['errors']} | {_cell(m['message'])} |")
        comps = analysis["score"].get("comparisons") or {}
        if comps:
            out += ["", f"Score: {_cell(analysis['score']['score'])} ({analysis['score']['verdict']}: "
                        f"{_cell(analysis['score']['message'])})", "",
                    "| metric | verdict | canary n | baseline n | shift | interval | p | weight | critical |",
                    "|---|---|---|---|---|---|---|---|---|"]
            for name, c in comps.items():
                out.append(f"| {name} | {c['verdict']} | {c['n_canary']} | {c['n_baseline']} | {_cell(c['shift'])} | "
                           f"[{_cell(c['lower'])}, {_cell(c['upper'])}] | {_cell(c['p_value'])} | {c['weight']:g} | "
                           f"{'yes' if c['critical'] else 'no'} |")
    if measurements:
        out += ["", "## Measurements", "", "| at | step | metric | target | outcome | result | n | min | median "
                "| max | message |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in measurements:
            out.append(f"| {m.at.isoformat(timespec='seconds')} | {m.step} | {m.metric} | {m.target} | {m.outcome} | "
                       f"{_cell(m.result)} | {m.n} | {_cell(m.low)} | {_cell(m.median)} | {_cell(m.high)} | "
                       f"{_cell(m.message)} |")
    if events:
        out += ["", "## Events", "", "| at | kind | exit | message |", "|---|---|---|---|"]
        for e in events:
            out.append(f"| {e.at.isoformat(timespec='seconds')} | {e.kind} | {_cell(e.exit_code)} | "
                       f"{_cell(e.message)} |")
    return "\n".join(out) + "\n"
