"""Pure ASGI middleware in front of every route: a request body cap, and security headers.

The body cap runs before any handler, so before authentication and before any parsing: a
declared ``Content-Length`` over ``api.max_body`` is answered 413 without reading a byte of the
body; a chunked (or lying) body is counted as it streams and cut at the cap (the handler's read
raises ``BodyTooLarge``, which the app turns into the same 413 envelope).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import ApiError, BodyTooLarge
from .envelope import error_doc

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

# What the pages use: our own CSS and the vendored htmx (no inline script anywhere), inline SVG
# charts (markup, not a resource), style="" attributes on uptime cells and the <style> htmx adds
# for its indicators (hence 'unsafe-inline' for styles only), data: images from the stylesheet.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limit()
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _reject(send, BodyTooLarge(cap))
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None


async def _reject(send: Send, e: ApiError) -> None:
    body = json.dumps(error_doc(e.status, e.message, e.hint, False, e.type)).encode()
    await send({"type": "http.response.start", "status": e.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """CSP, X-Frame-Options, Referrer-Policy and nosniff on every response (pages, API, static)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in SECURITY_HEADERS if k not in names)]}
            await send(message)

        await self.app(scope, receive, with_headers)
