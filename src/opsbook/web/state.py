"""What every handler shares: the context, sessions, templates, the signed-in principal, audit."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..config.load import Config
from ..config.secrets import redactor
from ..durations import format_duration
from ..errors import AuthError, OpsbookError, Throttled
from ..store.store import Store
from . import audit, charts
from .auth import Principal, Sessions, authenticate, require
from .context import WebContext
from .envelope import status_of
from .guard import Guard

T = TypeVar("T")
# where a pre-rendered body goes in a page shell (escaped values can never contain "<!--")
_SLOT = "<!--opsbook:body-->"


class Cached:
    """A pre-rendered (redacted) response body or page part, and lazily the same compressed once
    as raw deflate blocks, sync-flushed so they can be spliced into a gzip stream between other
    blocks (``gzip_of``): a cached page is not compressed again on every request."""

    __slots__ = ("_deflated", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._deflated: bytes | None = None

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:
            z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._deflated = z.compress(self.data) + z.flush(zlib.Z_SYNC_FLUSH)
        return self._deflated


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime


def gzip_of(parts: list[bytes | Cached]) -> bytes:
    """One gzip stream of ``parts`` in order. Cached parts go in as their precompressed blocks;
    plain bytes (the per-user page shell: name, CSRF token) go in stored, i.e. uncompressed,
    blocks, so a secret in them is never compressed together with other content (BREACH)."""
    out, crc, size = [_GZIP_HEADER], 0, 0
    for part in parts:
        data = part.data if isinstance(part, Cached) else part
        crc, size = zlib.crc32(data, crc), size + len(data)
        if isinstance(part, Cached):
            out.append(part.deflated)
        else:
            z = zlib.compressobj(0, zlib.DEFLATED, -zlib.MAX_WBITS)
            out.append(z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))
    # a final empty block (BFINAL, fixed Huffman, end of block), then CRC-32 and size
    out += [b"\x03\x00", struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(out)


def accepts_gzip(request: Request) -> bool:
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            return not (q.startswith("q=") and q[2:].strip().rstrip("0").rstrip(".") in ("", "0"))
    return False


def respond(request: Request, parts: list[bytes | Cached], media_type: str, status_code: int = 200) -> Response:
    """The parts as one response, gzipped when the client accepts it and it is worth it."""
    headers = {"Vary": "Accept-Encoding"}
    if accepts_gzip(request) and sum(len(p.data if isinstance(p, Cached) else p) for p in parts) >= 500:
        headers["Content-Encoding"] = "gzip"
        body = gzip_of(parts)
    else:
        body = b"".join(p.data if isinstance(p, Cached) else p for p in parts)
    return Response(body, status_code=status_code, media_type=media_type, headers=headers)


def json_bytes(doc: Any) -> bytes:
    """``doc``, secrets redacted before encoding (an encoded secret is spelled differently),
    encoded exactly as Starlette's JSONResponse does."""
    return json.dumps(redactor.redact(doc), ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def redact_value(value: Any) -> Any:
    """Jinja's ``finalize``: every printed value is redacted before autoescape, so a secret with
    ``"`` or ``<`` in it is caught as itself, not as its escaped form."""
    if isinstance(value, Markup):
        return Markup(redactor.text(str(value)))
    if isinstance(value, str):
        return redactor.text(value)
    return value


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_duration(max(0.0, round(seconds)))


def _pages(cfg: Config) -> dict[Any, tuple[float, Any]]:
    """The built pages of one loaded config: key -> (when its build started, value)."""
    return cfg.derived("web.pages", dict)


class Web:
    def __init__(self, ctx: WebContext, sessions: Sessions) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.guard = Guard(ctx.store)
        self.templates = Environment(loader=PackageLoader("opsbook.web", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True,
                                     lstrip_blocks=True, finalize=redact_value)
        self.templates.globals.update(charts=charts, pct=charts.pct, ago=_ago)
        self.templates.filters["redact"] = lambda v: redactor.text(str(v))
        # pages over every check are rebuilt at most this often (seconds); results arrive every
        # few seconds anyway, and it keeps a 1,000-check overview cheap under load. 0 disables.
        self.cache_ttl = 5.0
        self._building: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    async def cached(self, cfg: Config, key: Any, make: Callable[[], T]) -> T:
        """``make()`` run in a worker thread (store reads and rendering never block the event
        loop), its value kept ``cache_ttl`` seconds. One build per key at a time: while one
        request rebuilds an expired value the others get the previous one (so it is at most
        ttl + one build old); with nothing built yet they wait for that build. Values are kept
        on the config ``make`` reads (``cfg``): a reloaded config starts with none."""
        if self.cache_ttl <= 0:
            return await run_in_threadpool(make)
        cache = _pages(cfg)
        hit = cache.get(key)
        if hit is not None and (time.monotonic() - hit[0] < self.cache_ttl or self._lock(key).locked()):
            value: T = hit[1]
            return value
        return await run_in_threadpool(self._fill, cache, key, make)

    def _lock(self, key: Any) -> threading.Lock:
        lock = self._building.get(key)
        if lock is None:
            with self._guard:
                lock = self._building.setdefault(key, threading.Lock())
        return lock

    def _fill(self, cache: dict[Any, tuple[float, Any]], key: Any, make: Callable[[], T]) -> T:
        with self._lock(key):
            hit = cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.cache_ttl:
                value: T = hit[1]
                return value
            started = time.monotonic()  # the value is as old as the data it read
            value = make()
            cache[key] = (started, value)
            return value

    @property
    def store(self) -> Store:
        return self.ctx.store

    def config(self) -> Config:
        return self.ctx.get_config()

    def now(self) -> datetime:
        return self.ctx.clock()

    def principal(self, request: Request, *, quiet: bool = False) -> Principal | None:
        """Who is asking (None: nobody). Wrong credentials raise AuthError and count towards the
        address's throttle; a throttled address gets Throttled (429) whatever it presents.
        Both are audited (rate-limited) unless ``quiet`` (a page only showing who is logged in)."""
        remote, now = self.remote(request), self.now()
        try:
            self.guard.check(remote, now)
            return authenticate(request, self.config(), self.sessions, now)
        except (AuthError, Throttled) as e:
            if not quiet:
                if isinstance(e, AuthError):
                    self.guard.failed(remote, now)
                self.refused(request, e)
            raise

    def require(self, request: Request, role: str) -> Principal:
        p = self.principal(request)
        try:
            return require(p, role)
        except OpsbookError as e:
            self.refused(request, e)
            raise

    def authenticated(self, request: Request, role: str) -> None:
        """Refuse nobody (401, audited) before a handler looks up names or reads a body; whether
        the principal's role suffices is for ``mutate`` to decide (and audit in full)."""
        if self.principal(request) is None:
            self.require(request, role)

    def refused(self, request: Request, e: OpsbookError) -> None:
        """Audit one refused request (one row per address per minute, with a count)."""
        self.guard.refused(remote=self.remote(request), now=self.now(), status=status_of(e), method=request.method,
                           path=request.url.path, reason=e.message)

    def failed_login(self, request: Request) -> None:
        """A wrong token on the login form, or a wrong heartbeat key: counts towards the throttle."""
        self.guard.failed(self.remote(request), self.now())

    @staticmethod
    def remote(request: Request) -> str:
        # the socket peer; a reverse proxy's X-Forwarded-For is not trusted (it is client-set)
        return request.client.host if request.client else ""

    async def mutate(self, request: Request, role: str, action: str, target: str,
                     do: Callable[[Principal], Awaitable[Any]], detail: dict[str, Any] | None = None) -> Any:
        """Authorize, run and audit one mutation; refusals and failures are audited too. Nobody
        (no or wrong credentials) is audited rate-limited; a known principal's refusal in full."""
        p = self.principal(request)
        try:
            p = require(p, role)
        except OpsbookError as e:
            if p is None:
                self.refused(request, e)
            else:
                self.audit(request, p, action, target, "denied", detail)
            raise
        try:
            result = await do(p)
        except OpsbookError as e:
            self.audit(request, p, action, target, f"error {status_of(e)}", {**(detail or {}), "error": e.message})
            raise
        self.audit(request, p, action, target, "ok", detail)
        return result

    def audit(self, request: Request, p: Principal | None, action: str, target: str, outcome: str,
              detail: dict[str, Any] | None = None) -> None:
        audit.record(self.store, at=self.now(), actor=p.name if p else "-", role=p.role if p else "-",
                     action=action, target=target, remote=self.remote(request), outcome=outcome, detail=detail)

    def html(self, request: Request | None, template: str, **values: Any) -> str:
        """A page as redacted HTML; ``principal`` False renders it for nobody (public pages)."""
        cfg = self.config()
        p = values.pop("principal", None)
        if p is None and request is not None:
            try:
                p = self.principal(request, quiet=True)
            except OpsbookError:
                p = None
        base = {"request": request, "principal": p, "project": cfg.model.project, "env": cfg.env, "now": self.now()}
        return redactor.text(self.templates.get_template(template).render({**base, **values}))

    def render(self, request: Request, template: str, status_code: int = 200, *, body: Cached | None = None,
               **values: Any) -> Response:
        """A page; ``body``: already rendered and redacted HTML put where the template prints
        ``body`` (a big cached body is not copied through the template, redacted or compressed
        again: only the page shell around it is rendered per request)."""
        if body is None:
            return HTMLResponse(self.html(request, template, **values), status_code=status_code)
        head, _, tail = self.html(request, template, body=Markup(_SLOT), **values).partition(_SLOT)
        return respond(request, [head.encode(), body, tail.encode()], "text/html", status_code)

    def error_page(self, request: Request, status: int, message: str, hint: str = "") -> Response:
        return self.render(request, "error.html", status_code=status, status=status, message=message, hint=hint)
