"""``http``: one HTTP request; status, headers, body, JSON and phase timings are observations."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field, model_validator

from ..config.models import CheckParams
from ..config.resources import HttpAuth, HttpResource
from ..config.secrets import Secret, redactor, reveal
from ..errors import ProbeError
from ._http1 import exchange, websocket_key, websocket_refusal
from .base import Probe, ProbeContext

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_JSON_TYPES = ("application/json", "+json")
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


class HttpParams(CheckParams):
    url: str | None = Field(default=None, description="full URL; or give a resource and a path")
    path: str | None = Field(default=None, description="joined to the resource URL")
    method: Method = "GET"
    headers: dict[str, Secret] = Field(default_factory=dict, description="added to the resource's")
    json_body: Any = Field(default=None, alias="json", description="sent as a JSON body")
    body: str | None = Field(default=None, description="sent as a raw body")
    auth: HttpAuth | None = Field(default=None, description="{bearer: ...} or {basic: ...}")
    verify: bool | None = Field(default=None, description="verify TLS certificates (default true)")
    follow_redirects: bool = True
    max_body: int = Field(default=64 * 1024, ge=0, description="bytes of body read and kept")
    websocket: bool = Field(default=False, description="send a WebSocket opening handshake and check the answer")

    @model_validator(mode="after")
    def _one_body(self) -> HttpParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give json: or body:, not both")
        return self

    @model_validator(mode="after")
    def _websocket_is_a_get(self) -> HttpParams:
        if self.wants_websocket and (self.method != "GET" or self.json_body is not None or self.body is not None):
            raise ValueError("a WebSocket handshake (websocket: true, or a ws:// or wss:// url) is a GET "
                             "without a body: drop method:, json: and body:")
        return self

    @property
    def wants_websocket(self) -> bool:
        return self.websocket or _ws_scheme(self.url or "")

    @property
    def default_expect(self) -> tuple[str, ...] | None:
        """Narrows the kind's default: a WebSocket check passes only when the handshake succeeds."""
        return ("websocket.accepted == true",) if self.wants_websocket else None


def _ws_scheme(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("ws", "wss")


def _http_url(url: str) -> str:
    """ws:// and wss:// are http:// and https:// for the handshake (RFC 6455 section 3)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("ws", "wss"):
        return ("https" if scheme.lower() == "wss" else "http") + "://" + rest
    return url


def _target(p: HttpParams, res: HttpResource | None) -> str:
    if p.url:
        return p.url
    if res is None:
        raise ProbeError("an http check needs url: or a resource", retryable=False)
    if not p.path:
        return res.url
    return res.url.rstrip("/") + "/" + p.path.lstrip("/")


def _headers(p: HttpParams, res: HttpResource | None) -> list[tuple[str, str]]:
    merged = {**(res.headers if res else {}), **p.headers}
    headers = [(k, reveal(v, f"headers.{k}") or "") for k, v in merged.items()]
    auth = p.auth or (res.auth if res else None)
    if auth is not None and auth.bearer is not None:
        headers.append(("Authorization", "Bearer " + (reveal(auth.bearer, "auth.bearer") or "")))
    elif auth is not None and auth.basic is not None:
        password = reveal(auth.basic.password, "auth.basic.password") or ""
        token = base64.b64encode(f"{auth.basic.username}:{password}".encode()).decode()
        redactor.add(token)  # the encoded form is as secret as the password
        headers.append(("Authorization", f"Basic {token}"))
    return headers


def _body(p: HttpParams, headers: list[tuple[str, str]]) -> bytes | None:
    if p.json_body is not None:
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return json.dumps(p.json_body).encode()
    if p.body is not None:
        return p.body.encode()
    return None


def _same_origin(a: str, b: str) -> bool:
    ua, ub = urlsplit(a), urlsplit(b)
    return (ua.scheme, ua.hostname, ua.port) == (ub.scheme, ub.hostname, ub.port)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            return v.strip('"')
    return "utf-8"


class HttpCheck:
    name: ClassVar[str] = "http"
    Params: ClassVar[type[CheckParams]] = HttpParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("http",)
    default_expect: ClassVar[tuple[str, ...]] = ("status < 400",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ()
    observations: ClassVar[dict[str, str]] = {
        "status": "the final response's status code",
        "header": "response headers, names lowercased (header.content-type)",
        "json": "the body parsed as JSON, when it is JSON (absent otherwise)",
        "body": "the body as text, up to max_body bytes (64 KiB by default)",
        "truncated": "true when the body was longer than max_body",
        "size": "body size in bytes (Content-Length when the body was cut)",
        "duration": "total time in milliseconds, redirects included",
        "phases": "{dns, connect, tls, first_byte, total} in milliseconds, summed over redirects",
        "redirects": "how many redirects were followed",
        "url": "the final URL, after redirects",
        "http_version": "the response's protocol version, e.g. HTTP/1.1",
        "websocket": "with websocket: true, {accepted, reason, protocol} of the opening handshake",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: HttpParams = params
        res = ctx.resource if isinstance(ctx.resource, HttpResource) else None
        url = _target(p, res)
        ws_key = websocket_key() if p.wants_websocket or _ws_scheme(url) else None
        url = _http_url(url)
        verify = p.verify if p.verify is not None else (res.verify if res else True)
        headers = _headers(p, res)
        body = _body(p, headers)
        method = p.method
        if ws_key is not None and (method != "GET" or body is not None):
            raise ProbeError("a WebSocket handshake is a GET without a body", retryable=False)
        t0 = time.perf_counter()
        # one deadline for every hop and every read, a little inside the runner's so the error
        # names where the server stopped rather than a bare "timed out"
        deadline = asyncio.get_running_loop().time() + ctx.timeout - min(0.05, ctx.timeout / 10)
        spent = {"dns": 0.0, "connect": 0.0, "tls": 0.0}
        redirects = 0
        while True:
            ex = await exchange(method, url, headers, body,
                                ctx.ssl_context(verify) if url.startswith("https:") else None, p.max_body,
                                deadline, ws_key)
            for k in spent:
                spent[k] += ex.phases.get(k, 0.0)
            location = next((v for k, v in ex.headers if k.lower() == "location"), None)
            if not (p.follow_redirects and ex.status in _REDIRECTS and location):
                break
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise ProbeError(f"{url}: more than {MAX_REDIRECTS} redirects", retryable=False,
                                 hint="a redirect loop? set follow_redirects: false to see the first hop")
            nxt = urljoin(url, location)
            if not _same_origin(url, nxt):
                # credentials are for the origin they were configured for, never a redirect target
                headers = [(k, v) for k, v in headers if k.lower() not in ("authorization", "cookie")]
            if ex.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", None  # what browsers and curl -L do
                headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
            url = _http_url(nxt)  # a WebSocket server may redirect to a ws:// or wss:// URL
        total = (time.perf_counter() - t0) * 1000
        header: dict[str, str] = {}
        for k, v in ex.headers:
            key = k.lower()
            header[key] = f"{header[key]}, {v}" if key in header else v
        ctype = header.get("content-type", "")
        text = ex.body.decode(_charset(ctype), "replace") if method != "HEAD" else ""
        obs: dict[str, Any] = {
            "status": ex.status,
            "header": header,
            "body": text,
            "truncated": ex.truncated,
            "size": ex.size,
            "duration": round(total, 3),
            "phases": {
                "dns": round(spent["dns"], 3),
                "connect": round(spent["connect"], 3),
                "tls": round(spent["tls"], 3),
                "first_byte": round(ex.phases.get("first_byte", total), 3),
                "total": round(total, 3),
            },
            "redirects": redirects,
            "url": url,
            "http_version": ex.http_version,
        }
        mime = ctype.split(";")[0].strip().lower()
        if not ex.truncated and ex.body and mime.endswith(_JSON_TYPES):
            # a server claiming JSON and sending garbage: users assert on body instead
            with contextlib.suppress(ValueError):
                obs["json"] = json.loads(text)
        summary = f"{method} {url} -> {ex.status} in {total:.0f} ms"
        if ws_key is not None:
            offered = [name.strip() for k, v in headers if k.lower() == "sec-websocket-protocol"
                       for name in v.split(",")]
            reason = websocket_refusal(ws_key, ex.status, header, offered)
            obs["websocket"] = {"accepted": not reason, "reason": reason,
                                "protocol": header.get("sec-websocket-protocol", "")}
            summary += ": WebSocket accepted" if not reason else f": WebSocket refused: {reason}"
        return Probe(obs, summary)


KIND = HttpCheck()
