"""``webhook:`` receiver: POST the notification document as JSON, signed with HMAC-SHA256.

Headers: ``Idempotency-Key`` (the outbox row's dedup key: the same notification retried
carries the same key, so receivers can drop duplicates), ``X-Opsbook-Timestamp`` (Unix
seconds) and ``X-Opsbook-Signature: sha256=<hex>``, the HMAC of ``<timestamp>.<body>`` with
the receiver's secret (signing the timestamp too stops replays of old bodies).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pydantic import Field

from ...config.resources import Model, Secret
from ...config.secrets import redactor, reveal
from ...durations import PositiveDuration
from .base import ReceiverKind, SendContext, host_of, post


class WebhookReceiver(Model):
    url: Secret = Field(description="where the JSON notification is POSTed")
    secret: Secret | None = Field(default=None, description="HMAC-SHA256 key for X-Opsbook-Signature")
    headers: dict[str, Secret] = Field(default_factory=dict, description="extra request headers")
    timeout: PositiveDuration = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send(spec: WebhookReceiver, payload: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    url = reveal(spec.url, f"notify.receivers.{ctx.name}.webhook.url") or ""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(ctx.now.timestamp()))
    headers = {"Content-Type": "application/json", "User-Agent": "opsbook",
               "Idempotency-Key": str(payload.get("id", "")), "X-Opsbook-Timestamp": timestamp}
    if spec.secret is not None:
        secret = reveal(spec.secret, f"notify.receivers.{ctx.name}.webhook.secret") or ""
        redactor.add(secret)
        headers["X-Opsbook-Signature"] = signature(secret, timestamp, body)
    for k, v in spec.headers.items():
        headers[k] = reveal(v, f"notify.receivers.{ctx.name}.webhook.headers.{k}") or ""
    resp = post(ctx, url, f"webhook {ctx.name} ({host_of(url)})", content=body, headers=headers,
                timeout=spec.timeout)
    return {"http_status": resp.status_code}


KIND = ReceiverKind(WebhookReceiver, send)
