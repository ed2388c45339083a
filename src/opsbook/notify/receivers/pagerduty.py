"""``pagerduty:`` receiver: PagerDuty Events API v2 (trigger, acknowledge, resolve).

One alert group is one PagerDuty alert: every event for the group carries the group's stable
dedup_key (stored with the group), so a resolve closes what the trigger opened and an
acknowledge from `opsbook alerts ack` acknowledges it. Apprise cannot do this.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from ...config.resources import Model, Secret
from ...config.secrets import redactor, reveal
from ...durations import PositiveDuration
from .base import ReceiverKind, SendContext, host_of, post

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
PdSeverity = Literal["critical", "error", "warning", "info"]
_PD_SEVERITIES: dict[str, PdSeverity] = {"page": "critical", "ticket": "warning", "info": "info"}
SUMMARY_MAX = 1024  # Events API v2 limit on payload.summary
# opsbook's own severities, worst first: the group's PagerDuty severity is its worst alert's
_ORDER = ("critical", "error", "warning", "info")


class PagerDutyReceiver(Model):
    routing_key: Secret = Field(description="the integration's routing key (Events API v2)")
    url: str = Field(default=PAGERDUTY_URL, description="the Events API v2 enqueue URL")
    severity: dict[str, PdSeverity] = Field(
        default_factory=lambda: dict(_PD_SEVERITIES),
        description="opsbook severity label -> PagerDuty severity")
    default_severity: PdSeverity = Field(default="error", description="for severities not in severity:")
    source: str = Field(default="opsbook", description="payload.source: the affected system")
    timeout: PositiveDuration = 10.0


def event(spec: PagerDutyReceiver, payload: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """The Events v2 body for a stored notification."""
    action = "acknowledge" if payload.get("kind") == "acknowledge" else (
        "resolve" if payload.get("status") == "resolved" else "trigger")
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                            "dedup_key": payload["dedup_key"]}
    if action != "trigger":
        return body
    alerts = [a for a in payload.get("alerts", []) if a.get("state") == "firing"]
    sevs = [spec.severity.get(a.get("labels", {}).get("severity", ""), spec.default_severity) for a in alerts]
    severity = min(sevs, key=_ORDER.index) if sevs else spec.default_severity
    summary = str(payload.get("title") or "opsbook alert")
    if len(summary) > SUMMARY_MAX:
        summary = summary[:SUMMARY_MAX - 1] + "…"
    labels = payload.get("group_labels", {})
    body["payload"] = {
        "summary": summary,
        "source": spec.source,
        "severity": severity,
        "timestamp": payload.get("created_at"),
        "class": labels.get("alertname") or None,
        "group": payload.get("group_key"),
        "custom_details": {"group_labels": labels, "alerts": alerts,
                           "firing": len(alerts), "reason": payload.get("reason")},
    }
    body["client"] = "opsbook"
    if payload.get("external_url"):
        body["client_url"] = payload["external_url"]
    links = sorted({a.get("annotations", {}).get("runbook", "") for a in alerts} - {""})
    if links:
        body["links"] = [{"href": h, "text": "runbook"} for h in links]
    return body


def send(spec: PagerDutyReceiver, payload: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    key = reveal(spec.routing_key, f"notify.receivers.{ctx.name}.pagerduty.routing_key") or ""
    redactor.add(key)  # inline keys too: never in a message, log or stored error
    body = event(spec, payload, key)
    resp = post(ctx, spec.url, f"pagerduty {ctx.name} ({host_of(spec.url)})",
                content=json.dumps(body, default=str).encode(),
                headers={"Content-Type": "application/json", "User-Agent": "opsbook"}, timeout=spec.timeout)
    try:
        answer = resp.json()
    except ValueError:
        answer = {}
    return {"http_status": resp.status_code, "event_action": body["event_action"],
            "dedup_key": answer.get("dedup_key", body["dedup_key"]), "status": answer.get("status"),
            "message": answer.get("message")}


KIND = ReceiverKind(PagerDutyReceiver, send)
