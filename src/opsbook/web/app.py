"""``create_app(ctx)``: the Starlette app behind `opsbook serve` (API, dashboard, /status, /metrics).

Pages over every check (the overview, /status, /api/v1/checks) and the check page read the
store and render in worker threads (``Web.cached``, ``run_in_threadpool``), so the event loop keeps
serving while they build; each thread has its own SQLite connection and reads in a read-only
transaction (``Database.read``). Small reads and the audit writes stay on the loop.
"""

from __future__ import annotations

import contextlib
import secrets
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config.secrets import redactor, reveal
from ..errors import AuthError, OpsbookError
from .api import routes as api_routes
from .auth import Sessions
from .context import WebContext
from .envelope import error_doc, error_response, status_of
from .limits import SECURITY_HEADERS, BodyLimit, SecurityHeaders
from .pages import routes as page_routes
from .public import routes as public_routes
from .runbook_runner import pool_of
from .state import Web

STATIC = Path(__file__).parent / "static"


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/metrics":
        return False
    return "text/html" in request.headers.get("accept", "")


def create_app(ctx: WebContext) -> Starlette:
    cfg = ctx.get_config()
    secret = reveal(cfg.model.api.session_secret, "api.session_secret") or secrets.token_urlsafe(32)
    web = Web(ctx, Sessions(secret, cfg.model.api.session_ttl, ctx.store))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if _wants_html(request):
            return web.error_page(request, exc.status_code, str(exc.detail))
        message = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        hint = "see /api/v1/openapi.json for the endpoints" if exc.status_code in (404, 405) else ""
        return JSONResponse(error_doc(exc.status_code, message, hint), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def opsbook_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpsbookError)
        if _wants_html(request):
            if isinstance(exc, AuthError):
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            page = web.error_page(request, status_of(exc), exc.message, exc.hint)
            page.headers.update(getattr(exc, "headers", None) or {})  # Retry-After on a 429
            return page
        return error_response(exc)

    async def crash(request: Request, exc: Exception) -> Response:
        # a bug: log it for the operator, show the client a generic envelope (no internals)
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        if _wants_html(request):
            resp: Response = web.error_page(request, 500, "internal error", "see the opsbook serve log")
        else:
            resp = JSONResponse(error_doc(500, "internal error", "see the opsbook serve log"), status_code=500)
        # Starlette sends this from its outermost middleware, past SecurityHeaders: add them here
        resp.headers.update({k.decode(): v.decode() for k, v in SECURITY_HEADERS})
        return resp

    routes: list[Any] = [
        *api_routes(web),
        *public_routes(web),
        *page_routes(web),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/favicon.ico", lambda r: Response(status_code=204)),
    ]
    # outermost first: headers on every response (413s included), then the body cap before any route
    middleware = [Middleware(SecurityHeaders),
                  Middleware(BodyLimit, limit=lambda: ctx.get_config().model.api.max_body)]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool_of(web).shutdown()  # runbook runs walking here: interrupted now, not 30 s later

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers={
        HTTPException: http_error, OpsbookError: opsbook_error, Exception: crash})
    app.state.web = web
    redactor.add(secret)
    return app
