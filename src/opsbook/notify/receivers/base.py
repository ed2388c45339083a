"""What every receiver shares: the send context, HTTP with error classification, Retry-After.

A receiver kind is one module with its config model and its ``send``, exported as
``KIND = ReceiverKind(...)`` and listed in registry.py. A sender takes (its config spec, the
stored payload, a SendContext) and returns a receipt dict, or raises DeliveryError with
retryable true (5xx, 408, 429, timeouts, refused connections) or false (other 4xx). Secrets are
revealed here, at send time, and only here. The config loads every receiver module to validate
``notify.receivers``: httpx and a kind's own libraries are imported when it sends, not before.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config.resources import Model
from ...config.secrets import redactor
from ...errors import DeliveryError

if TYPE_CHECKING:
    import httpx


class Deadline:
    """A total deadline for one delivery attempt (connect, send, the whole answer).

    httpx's timeouts are per operation: a receiver that accepts and drips one byte a second
    never trips a 10 s read timeout. When the deadline passes, the sockets this attempt opened
    are shut down, which wakes a read blocked on them; ``post`` then reports a timeout. It is
    handed to httpx as the ``trace`` extension, so it sees each new connection's socket (the
    delivery client keeps no idle connections, so every attempt opens its own).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def trace(self, event: str, info: dict[str, Any]) -> None:
        stream: Any = info.get("return_value") if event.endswith(".complete") else None
        sock = stream.get_extra_info("socket") if hasattr(stream, "get_extra_info") else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._socks.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for s in socks:
            _shut(s)

    def close(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@dataclass
class SendContext:
    name: str  # the receiver's name in notify.receivers
    base_dir: Path  # relative paths (file receiver) are relative to the config file
    now: datetime
    http: httpx.Client
    external_url: str | None = None
    deadline: Deadline | None = None  # the attempt's total deadline (the outbox sets one)


@dataclass(frozen=True)
class ReceiverKind:
    """A receiver kind, as registry.py lists it: its config model (the keys under its kind key)
    and its sender."""

    Config: type[Model]
    send: Callable[[Any, dict[str, Any], SendContext], dict[str, Any]]


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
    """POST, turning transport errors into retryable DeliveryErrors that name no secret. With
    ``ctx.deadline`` the whole exchange ends by it, however slowly the receiver answers."""
    import httpx

    dl = ctx.deadline
    extensions = {"trace": dl.trace} if dl is not None else None
    limit = min(timeout, dl.remaining()) if dl is not None else timeout
    try:
        if dl is not None and dl.expired:
            raise httpx.TimeoutException("deadline passed before sending")
        resp = _post_capped(ctx.http, url, content, headers, limit, extensions)
    except httpx.HTTPError as e:
        if isinstance(e, httpx.TimeoutException) or (dl is not None and dl.expired):
            took = dl.seconds if dl is not None else timeout
            raise DeliveryError(f"{what}: timed out after {took:g}s", retryable=True,
                                hint="the receiver is slow or unreachable; opsbook retries with backoff") from None
        raise DeliveryError(f"{what}: {type(e).__name__}: {redactor.text(str(e))}", retryable=True,
                            hint="cannot reach the receiver; opsbook retries with backoff") from None
    classify(resp, what, ctx.now)
    return resp


MAX_RESPONSE = 64 * 1024  # a receiver's answer is a status and a short JSON: never hold more


def _post_capped(http: httpx.Client, url: str, content: bytes, headers: dict[str, str], timeout: float,
                 extensions: dict[str, Any] | None) -> httpx.Response:
    """POST and keep at most MAX_RESPONSE bytes of the answer: a receiver that sends a huge body
    within the deadline must not fill memory."""
    import httpx

    request = http.build_request("POST", url, content=content, headers=headers, timeout=timeout,
                                 extensions=extensions)
    resp = http.send(request, stream=True)
    try:
        body = bytearray()
        for chunk in resp.iter_bytes():  # decoded; content-encoding is dropped below
            body += chunk[: MAX_RESPONSE - len(body)]
            if len(body) >= MAX_RESPONSE:
                break
    finally:
        resp.close()
    headers_out = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in ("content-encoding",
                                                                                       "content-length",
                                                                                       "transfer-encoding")]
    return httpx.Response(resp.status_code, headers=headers_out, content=bytes(body), request=request)


def host_of(url: str) -> str:
    """Name a target in messages without its path or query (which may hold tokens)."""
    import httpx

    try:
        return httpx.URL(url).host or "?"
    except Exception:
        return "?"
