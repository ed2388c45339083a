"""What every receiver shares: the send context, HTTP with error classification, Retry-After.

A sender takes (its config spec, the stored payload, a SendContext) and returns a receipt
dict, or raises DeliveryError with retryable true (5xx, 408, 429, timeouts, refused
connections) or false (other 4xx). Secrets are revealed here, at send time, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from ...config.secrets import redactor
from ...errors import DeliveryError


@dataclass
class SendContext:
    name: str  # the receiver's name in notify.receivers
    base_dir: Path  # relative paths (file receiver) are relative to the config file
    now: datetime
    http: httpx.Client
    external_url: str | None = None


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify(resp: httpx.Response, what: str, now: datetime) -> None:
    """Raise DeliveryError for a non-2xx response: retryable for 408/429/5xx."""
    if resp.is_success:
        return
    code = resp.status_code
    retryable = code in (408, 425, 429) or code >= 500
    body = redactor.text(resp.text[:300].strip())
    hints = {
        400: "the receiver rejected the message; check the receiver's config (for PagerDuty: the routing key)",
        401: "authentication failed; check the receiver's key or secret",
        403: "forbidden; check the receiver's key or secret",
        404: "no such endpoint; check the receiver's url",
        429: "rate limited; opsbook retries after Retry-After",
    }
    raise DeliveryError(
        f"{what}: HTTP {code}" + (f": {body}" if body else ""),
        hint=hints.get(code, "the receiver is failing; opsbook retries with backoff" if retryable else ""),
        retryable=retryable, retry_after=retry_after(resp.headers.get("retry-after"), now), status=code,
    )


def post(ctx: SendContext, url: str, what: str, *, content: bytes, headers: dict[str, str],
         timeout: float) -> httpx.Response:
    """POST, turning transport errors into retryable DeliveryErrors that name no secret."""
    try:
        resp = ctx.http.post(url, content=content, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise DeliveryError(f"{what}: timed out after {timeout:g}s", retryable=True,
                            hint="the receiver is slow or unreachable; opsbook retries with backoff") from None
    except httpx.HTTPError as e:
        raise DeliveryError(f"{what}: {type(e).__name__}: {redactor.text(str(e))}", retryable=True,
                            hint="cannot reach the receiver; opsbook retries with backoff") from None
    classify(resp, what, ctx.now)
    return resp


def host_of(url: str) -> str:
    """Name a target in messages without its path or query (which may hold tokens)."""
    try:
        return httpx.URL(url).host or "?"
    except Exception:
        return "?"
