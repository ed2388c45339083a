"""What every handler shares: the context, sessions, templates, the signed-in principal, audit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..config.load import Config
from ..config.secrets import redactor
from ..durations import format_duration
from ..errors import OpsbookError
from ..store.store import Store
from . import audit, charts
from .auth import Principal, Sessions, authenticate, require
from .context import WebContext
from .envelope import status_of


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_duration(max(0.0, round(seconds)))


class Web:
    def __init__(self, ctx: WebContext, sessions: Sessions) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.templates = Environment(loader=PackageLoader("opsbook.web", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True,
                                     lstrip_blocks=True)
        self.templates.globals.update(charts=charts, pct=charts.pct, ago=_ago)
        self.templates.filters["redact"] = lambda v: redactor.text(str(v))
        # pages over every check are recomputed at most this often (seconds); results arrive every
        # few seconds anyway, and it keeps a 1,000-check overview cheap under load. 0 disables.
        self.cache_ttl = 5.0
        self._cache: dict[Any, tuple[float, Any]] = {}

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if self.cache_ttl <= 0:
            return make()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_ttl:
            return hit[1]
        value = make()
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = (now, value)
        return value

    @property
    def store(self) -> Store:
        return self.ctx.store

    def config(self) -> Config:
        return self.ctx.get_config()

    def now(self) -> datetime:
        return self.ctx.clock()

    def principal(self, request: Request) -> Principal | None:
        return authenticate(request, self.config(), self.sessions)

    def require(self, request: Request, role: str) -> Principal:
        return require(self.principal(request), role)

    @staticmethod
    def remote(request: Request) -> str:
        # the socket peer; a reverse proxy's X-Forwarded-For is not trusted (it is client-set)
        return request.client.host if request.client else ""

    async def mutate(self, request: Request, role: str, action: str, target: str,
                     do: Callable[[Principal], Awaitable[Any]], detail: dict[str, Any] | None = None) -> Any:
        """Authorize, run and audit one mutation; refusals and failures are audited too."""
        p = self.principal(request)
        try:
            p = require(p, role)
        except OpsbookError:
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

    def render(self, request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        cfg = self.config()
        p = values.pop("principal", None)
        if p is None:
            try:
                p = self.principal(request)
            except OpsbookError:
                p = None
        base = {"request": request, "principal": p, "project": cfg.model.project, "env": cfg.env, "now": self.now()}
        html = self.templates.get_template(template).render({**base, **values})
        return HTMLResponse(redactor.text(html), status_code=status_code)

    def error_page(self, request: Request, status: int, message: str, hint: str = "") -> HTMLResponse:
        return self.render(request, "error.html", status_code=status, status=status, message=message, hint=hint)
