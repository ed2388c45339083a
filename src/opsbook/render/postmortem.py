"""A post-mortem as Markdown, from its ``opsbook.postmortem/1`` document (ops/postmortem.py).

Without a template the sections follow one another in a fixed order. With one
(``incidents.postmortem.template``), each ``{{placeholder}}`` it holds is replaced by the
generated text (PLACEHOLDERS lists them); anything else in it is kept as written."""

from __future__ import annotations

from typing import Any

from ..durations import format_duration

HUMAN = ("Root cause", "What went well", "What went wrong", "Lessons")
_STAGES = ("detected", "declared", "acknowledged", "mitigated", "resolved", "closed")
_DERIVED = (("time to acknowledge", "time_to_acknowledge"), ("time to mitigate", "time_to_mitigate"),
            ("time to resolve", "time_to_resolve"))


def _dur(seconds: float | None) -> str:
    return format_duration(float(round(seconds))) if seconds is not None else "-"


def _cell(text: Any) -> str:
    """Table-safe: a pipe or a newline would break the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _summary(doc: dict[str, Any]) -> str:
    i = doc["incident"]
    lines = [f"- **Severity:** {i['severity']}", f"- **Status:** {i['status']}",
             f"- **Duration:** {_dur(doc['duration'])} (detection to resolution)"]
    if i["commander"]:
        lines.append(f"- **Commander:** {i['commander']}")
    roles = ", ".join(f"{k}: {v}" for k, v in i["roles"].items() if k != "commander")
    if roles:
        lines.append(f"- **Roles:** {roles}")
    if doc["required"]:
        lines.append(f"- **Post-mortem due:** {doc['due_at'] or 'once resolved'}")
    lines += ["", "| stage | at (UTC) |", "|---|---|"]
    lines += [f"| {s} | {i[f'{s}_at'] or '-'} |" for s in _STAGES]
    lines += ["", "| derived | duration |", "|---|---|"]
    lines += [f"| {label} | {_dur(i[key])} |" for label, key in _DERIVED]
    return "\n".join(lines)


def _impact(doc: dict[str, Any]) -> str:
    imp = doc["impact"]
    lines = [f"Components: {', '.join(imp['components']) or '-'}", "", "Checks that failed in the window:", ""]
    if imp["failed_checks"]:
        lines += ["| check | env | bad / results | failing assertion |", "|---|---|---|---|"]
        for c in imp["failed_checks"]:
            lines.append(f"| {_cell(c['check'])} | {_cell(c['env'] or '-')} | {c['bad']} / {c['results']} | "
                         f"{_cell('; '.join(c['failing_assertions']) or '-')} |")
    else:
        lines.append("none")
    lines += ["", "Error budget consumed during the window:", ""]
    if imp["slos"]:
        lines += ["| SLO | objective | bad in window | consumed | how |", "|---|---|---|---|---|"]
        for s in imp["slos"]:
            lines.append(f"| {_cell(s['name'])} | {s['objective']:g} | {s['incident_events']['bad']} | "
                         f"{s['consumed']:.2%} | {_cell(s['formula'])} |")
    else:
        lines.append("no SLOs configured")
    return "\n".join(lines)


def _timeline(doc: dict[str, Any]) -> str:
    tl = doc["timeline"]
    lines = [f"From {tl['start']} to {tl['end']} (UTC)."]
    if tl["truncated"]:
        lines.append("The window held more than the bound; the newest entries are shown.")
    lines += ["", "| at (UTC) | kind | what | ref |", "|---|---|---|---|"]
    lines += [f"| {e['at']} | {e['kind']} | {_cell(e['summary'])} | {e['ref']} |" for e in tl["entries"]]
    return "\n".join(lines)


def _actions(doc: dict[str, Any]) -> str:
    if not doc["actions"]:
        return "none yet (`opsbook incident action add`)"
    lines = ["| id | action | owner | due | status |", "|---|---|---|---|---|"]
    for a in doc["actions"]:
        status = f"done {a['done_at']} by {a['done_by']}" if a["status"] == "done" else (
            "open, overdue" if a.get("overdue") else "open")
        lines.append(f"| {a['id']} | {_cell(a['text'])} | {_cell(a['owner'] or '-')} | {a['due'] or '-'} | "
                     f"{status} |")
    return "\n".join(lines)


def placeholders(doc: dict[str, Any]) -> dict[str, str]:
    i = doc["incident"]
    return {"id": str(i["id"]), "title": i["title"], "severity": i["severity"], "status": i["status"],
            "duration": _dur(doc["duration"]), "summary": _summary(doc), "impact": _impact(doc),
            "timeline": _timeline(doc), "actions": _actions(doc), "generated_at": doc["generated_at"]}


PLACEHOLDERS = ("id", "title", "severity", "status", "duration", "summary", "impact", "timeline", "actions",
                "generated_at")


def markdown(doc: dict[str, Any], template: str | None = None) -> str:
    parts = placeholders(doc)
    if template is not None:
        for key, text in parts.items():
            template = template.replace("{{" + key + "}}", text)
        return template
    i = doc["incident"]
    out = [f"# Post-mortem: incident {i['id']}, {i['title']}", "", parts["summary"], "", "## Impact", "",
           parts["impact"], "", "## Timeline", "", parts["timeline"], "", "## Action items", "", parts["actions"]]
    for title in HUMAN:
        out += ["", f"## {title}", ""]
    out += ["", f"_Generated by opsbook at {doc['generated_at']}._", ""]
    return "\n".join(out)
