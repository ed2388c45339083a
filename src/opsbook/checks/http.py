"""``http``: one HTTP request; status, headers, body, JSON and phase timings are observations."""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # imported where used: the CLI starts fast and loads only what a run needs
    import httpx
from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import HttpAuth, HttpResource
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_JSON_TYPES = ("application/json", "+json")


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


class _NoCookies(DefaultCookiePolicy):
    """The client is shared by every check of a run: one check's cookies must not leak into
    another's request, so the jar keeps nothing."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _client(ctx: ProbeContext, verify: bool) -> httpx.AsyncClient:
    """One client per run and verify mode (building one costs ~1 ms: an SSL context and a
    pool). No keep-alive, so each check opens its own connection and its connect and TLS
    timings are real, as blackbox_exporter's are."""
    import httpx
    key = f"http:client:{verify}"
    client = ctx.shared.get(key)
    if client is None:
        client = httpx.AsyncClient(
            verify=ctx.ssl_context(verify),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
            cookies=CookieJar(policy=_NoCookies()),
            trust_env=True,
        )
        ctx.shared[key] = client
    return client


def _target(p: HttpParams, res: HttpResource | None) -> str:
    if p.url:
        return p.url
    if res is None:
        raise ProbeError("an http check needs url: or a resource", retryable=False)
    if not p.path:
        return res.url
    return res.url.rstrip("/") + "/" + p.path.lstrip("/")


def _headers(p: HttpParams, res: HttpResource | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    merged = {**(res.headers if res else {}), **p.headers}
    for k, v in merged.items():
        headers[k] = reveal(v, f"headers.{k}") or ""
    auth = p.auth or (res.auth if res else None)
    if auth is not None and auth.bearer is not None:
        headers["Authorization"] = "Bearer " + (reveal(auth.bearer, "auth.bearer") or "")
    return headers


def _basic(p: HttpParams, res: HttpResource | None) -> httpx.BasicAuth | None:
    import httpx
    auth = p.auth or (res.auth if res else None)
    if auth is None or auth.basic is None:
        return None
    password = reveal(auth.basic.password, "auth.basic.password") or ""
    return httpx.BasicAuth(auth.basic.username, password)


class _Phases:
    """Collects httpcore's trace events into phase durations (ms), summed over redirects."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.started: dict[str, float] = {}
        self.spent = {"connect": 0.0, "tls": 0.0}
        self.first_byte: float | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        step, _, state = event.rpartition(".")
        if state == "started":
            self.started[step] = now
        elif state == "complete" and step in self.started:
            if step == "connection.connect_tcp":
                self.spent["connect"] += (now - self.started[step]) * 1000
            elif step == "connection.start_tls":
                self.spent["tls"] += (now - self.started[step]) * 1000
            elif step.endswith("receive_response_headers"):
                self.first_byte = (now - self.t0) * 1000


def _probe_error(e: Exception, url: str, timeout: float) -> ProbeError:
    import httpx
    cause = e.__cause__ or e.__context__
    if isinstance(e, httpx.TimeoutException):
        return ProbeError(f"{url}: timed out after {timeout:g}s ({type(e).__name__})",
                          hint="the server is slow or unreachable; raise timeout: if expected")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return ProbeError(f"{url}: TLS certificate not trusted: {cause.verify_message}",
                          hint="fix the certificate, or set verify: false for a self-signed one")
    if isinstance(cause, ssl.SSLError) or "SSL" in str(e):
        return ProbeError(f"{url}: TLS handshake failed: {e}", hint="is the port speaking TLS?")
    if isinstance(e, httpx.ConnectError):
        return ProbeError(f"{url}: cannot connect: {e}",
                          hint="is the service running and the host/port right?")
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProbeError(f"{url}: bad URL: {e}", retryable=False)
    if isinstance(e, httpx.TooManyRedirects):
        return ProbeError(f"{url}: too many redirects", retryable=False,
                          hint="a redirect loop? set follow_redirects: false to see the first hop")
    return ProbeError(f"{url}: {type(e).__name__}: {e}", hint="the server broke the HTTP exchange")


async def _read(resp: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body; a huge download must not fill memory."""
    chunks: list[bytes] = []
    got = 0
    async for chunk in resp.aiter_bytes():
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


class HttpCheck:
    name: ClassVar[str] = "http"
    Params: ClassVar[type[CheckParams]] = HttpParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("http",)
    default_expect: ClassVar[tuple[str, ...]] = ("status < 400",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("httpx",)
    observations: ClassVar[dict[str, str]] = {
        "status": "the final response's status code",
        "header": "response headers, names lowercased (header.content-type)",
        "json": "the body parsed as JSON, when it is JSON (absent otherwise)",
        "body": "the body as text, up to max_body bytes (64 KiB by default)",
        "truncated": "true when the body was longer than max_body",
        "size": "body size in bytes (Content-Length when the body was cut)",
        "duration": "total time in milliseconds, redirects included",
        "phases": "{connect, tls, first_byte, total} in milliseconds",
        "redirects": "how many redirects were followed",
        "url": "the final URL, after redirects",
        "http_version": "HTTP/1.1 or HTTP/2",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        import httpx
        p: HttpParams = params
        res = ctx.resource if isinstance(ctx.resource, HttpResource) else None
        url = _target(p, res)
        verify = p.verify if p.verify is not None else (res.verify if res else True)
        client = _client(ctx, verify)
        t0 = time.perf_counter()
        phases = _Phases(t0)
        try:
            req = client.build_request(
                p.method, url, headers=_headers(p, res), json=p.json_body,
                content=p.body, timeout=ctx.timeout, extensions={"trace": phases},
            )
            resp = await client.send(req, auth=_basic(p, res), stream=True,
                                     follow_redirects=p.follow_redirects)
            try:
                raw, truncated = await _read(resp, p.max_body)
            finally:
                await resp.aclose()
        except httpx.HTTPError as e:
            raise _probe_error(e, url, ctx.timeout) from None
        except (OSError, ssl.SSLError) as e:
            raise ProbeError(f"{url}: {e}") from None
        total = (time.perf_counter() - t0) * 1000
        text = raw.decode(resp.encoding or "utf-8", "replace")
        obs: dict[str, Any] = {
            "status": resp.status_code,
            "header": {k: ", ".join(resp.headers.get_list(k)) for k in resp.headers},
            "body": text,
            "truncated": truncated,
            "size": int(resp.headers.get("content-length", len(raw))) if truncated else len(raw),
            "duration": round(total, 3),
            "phases": {
                "connect": round(phases.spent["connect"], 3),
                "tls": round(phases.spent["tls"], 3),
                "first_byte": round(phases.first_byte or total, 3),
                "total": round(total, 3),
            },
            "redirects": len(resp.history),
            "url": str(resp.url),
            "http_version": resp.http_version,
        }
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if not truncated and raw and ctype.endswith(_JSON_TYPES):
            # a server claiming JSON and sending garbage: users assert on body instead
            with contextlib.suppress(ValueError):
                obs["json"] = json.loads(text)
        return Probe(obs, f"{p.method} {resp.url} -> {resp.status_code} in {total:.0f} ms")


KIND = HttpCheck()
