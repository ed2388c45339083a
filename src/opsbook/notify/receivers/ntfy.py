"""``ntfy:`` receiver: push notifications through an ntfy server (https://ntfy.sh or your own).

The message is POSTed as plain text to ``{url}/{topic}`` with ntfy's headers: ``Title``,
``Priority`` (the worst firing alert's severity, mapped by ``priority:``) and ``Tags`` (shown as
emojis: a warning sign while firing, a check mark once resolved). A non-ASCII title is sent
RFC 2047-encoded, which ntfy decodes (v2.4+). ``token:`` is sent as ``Authorization: Bearer``.
On a public server the topic works as a password, so it may be a secret too. Errors are
classified like the webhook's: 5xx, 408 and 429 are retried (after Retry-After), other 4xx not.
"""

from __future__ import annotations

import base64
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from ...config.resources import Model, Secret
from ...config.secrets import redactor, reveal
from ...durations import PositiveDuration
from ..render import body_text, title_text
from .base import ReceiverKind, SendContext, host_of, post

Priority = Literal["min", "low", "default", "high", "urgent"]
_ORDER: tuple[Priority, ...] = ("urgent", "high", "default", "low", "min")  # worst first
_PRIORITIES: dict[str, Priority] = {"page": "urgent", "ticket": "default", "info": "low"}
_TAGS = {"firing": "warning", "resolved": "white_check_mark", "acknowledge": "eyes", "test": "information_source"}


class NtfyReceiver(Model):
    url: str = Field(default="https://ntfy.sh", description="the ntfy server's base URL")
    topic: Secret = Field(description="the topic to publish to")
    token: Secret | None = Field(default=None, description="an access token, sent as Authorization: Bearer")
    priority: dict[str, Priority] = Field(
        default_factory=lambda: dict(_PRIORITIES),
        description="opsbook severity label -> ntfy priority")
    default_priority: Priority = Field(default="default", description="for other severities and other messages")
    tags: list[str] = Field(default_factory=list, description="extra tags on every message")
    timeout: PositiveDuration = 10.0


def header_text(value: str) -> str:
    """A header value as ASCII: RFC 2047 base64 when it is not (ntfy decodes Title and Tags)."""
    if value.isascii():
        return " ".join(value.split())  # no line breaks in a header
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


def headers_for(spec: NtfyReceiver, payload: dict[str, Any]) -> dict[str, str]:
    kind = payload.get("kind")
    firing = [a for a in payload.get("alerts", []) if a.get("state") == "firing"]
    status = kind if kind in ("acknowledge", "test") else ("firing" if firing else "resolved")
    priority = spec.default_priority
    if status == "firing":
        sevs = [spec.priority.get(a.get("labels", {}).get("severity", ""), spec.default_priority) for a in firing]
        priority = min(sevs, key=_ORDER.index)
    headers = {"Title": header_text(title_text(payload)), "Priority": priority,
               "Tags": header_text(",".join([_TAGS[status], *spec.tags])),
               "Content-Type": "text/plain; charset=utf-8", "User-Agent": "opsbook"}
    if payload.get("external_url"):
        headers["Click"] = str(payload["external_url"])
    return headers


def send(spec: NtfyReceiver, payload: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    topic = reveal(spec.topic, f"notify.receivers.{ctx.name}.ntfy.topic") or ""
    redactor.add(topic)  # anyone who knows a public topic can read it
    headers = headers_for(spec, payload)
    if spec.token is not None:
        token = reveal(spec.token, f"notify.receivers.{ctx.name}.ntfy.token") or ""
        redactor.add(token)
        headers["Authorization"] = f"Bearer {token}"
    url = f"{spec.url.rstrip('/')}/{quote(topic, safe='')}"
    resp = post(ctx, url, f"ntfy {ctx.name} ({host_of(spec.url)})", content=body_text(payload).encode(),
                headers=headers, timeout=spec.timeout)
    try:
        answer = resp.json()
    except ValueError:
        answer = {}
    return {"http_status": resp.status_code, "id": answer.get("id") if isinstance(answer, dict) else None}


KIND = ReceiverKind(NtfyReceiver, send)
