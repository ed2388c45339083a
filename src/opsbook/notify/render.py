"""Notification text for people (Apprise titles and bodies, PagerDuty summaries)."""

from __future__ import annotations

from typing import Any

from ..config.runbooks import runbook_ref


def title_text(payload: dict[str, Any]) -> str:
    """``[FIRING:2] api-not-ready env=production`` or ``[RESOLVED] ...``, plus the first summary."""
    kind = payload.get("kind")
    alerts = payload.get("alerts", [])
    firing = [a for a in alerts if a.get("state") == "firing"]
    labels = payload.get("group_labels", {})
    name = labels.get("alertname") or (alerts[0].get("labels", {}).get("alertname") if alerts else "") or "alerts"
    rest = " ".join(f"{k}={v}" for k, v in labels.items() if k != "alertname" and v)
    if kind == "test":
        head = "[TEST]"
    elif kind == "escalation":  # an unacknowledged incident paging the next level (ops/escalation.py)
        return str(payload.get("title") or "[ESCALATION] incident")
    elif kind == "acknowledge":
        head = f"[ACK by {payload.get('acked_by') or '?'}]"
    elif firing:
        head = f"[FIRING:{len(firing)}]"
    else:
        head = "[RESOLVED]"
    summary = next((a.get("annotations", {}).get("summary") for a in firing + alerts
                    if a.get("annotations", {}).get("summary")), "")
    return " ".join(p for p in (head, name, rest, f"- {summary}" if summary else "") if p)


def runbook_link(name: str, external_url: str | None) -> str | None:
    """The dashboard's page for runbook ``name`` when the dashboard's address is configured."""
    return f"{external_url.rstrip('/')}/runbooks/{name}" if external_url else None


def runbook_lines(annotation: str, external_url: Any = None) -> list[str]:
    """An alert's ``runbook:`` annotation: a runbook's name becomes its link and the commands
    that run it; a URL or a sentence is shown as written."""
    name = runbook_ref(annotation)
    if name is None:
        return [f"  runbook: {annotation}"]
    link = runbook_link(name, str(external_url) if external_url else None)
    return [f"  runbook: {name}" + (f" ({link})" if link else ""),
            f"    run: opsbook runbook run {name}",
            f"    dry-run: opsbook runbook run {name} --dry-run"]


def body_text(payload: dict[str, Any]) -> str:
    lines: list[str] = []
    for a in payload.get("alerts", []):
        ann = a.get("annotations", {})
        labels = " ".join(f"{k}={v}" for k, v in sorted(a.get("labels", {}).items()))
        lines.append(f"{a.get('state', '?').upper()} {labels}")
        for key in ("summary", "description"):
            if ann.get(key):
                lines.append(f"  {key}: {ann[key]}")
        if ann.get("runbook"):
            lines += runbook_lines(str(ann["runbook"]), payload.get("external_url"))
        if a.get("reason"):
            lines.append(f"  reason: {a['reason']}")
    if payload.get("kind") == "test":
        lines.append(payload.get("message") or "opsbook test notification")
    if payload.get("external_url"):
        lines.append(str(payload["external_url"]))
    return "\n".join(lines) or title_text(payload)
