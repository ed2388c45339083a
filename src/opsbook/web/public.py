"""Pages anyone may reach: /status, /metrics (unless protected), /login and /logout."""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import AuthError, Throttled
from . import charts, metrics, status
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Principal, check_csrf, match_token
from .state import Cached, Web, json_bytes, respond


def _safe_next(target: str | None) -> str:
    # only same-site paths: an open redirect after login would be a phishing aid
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


def routes(web: Web) -> list[Route]:
    async def status_page(request: Request) -> Response:
        cfg = web.config()

        def make() -> tuple[Cached, Cached]:
            # the same for everyone (no principal): the whole page is built once, as JSON and HTML
            doc = status.build(cfg, web.store, web.now())
            strips = {c["name"]: charts.uptime_strip([(d["date"], d["uptime"]) for d in c["days"]])
                      for c in doc["components"]}
            html = web.html(None, "status.html", principal=False, doc=doc, strips=strips)
            return Cached(json_bytes(doc)), Cached(html.encode())

        as_json, as_html = await web.cached(cfg, "status", make)
        if "application/json" in request.headers.get("accept", "") or request.query_params.get("format") == "json":
            return respond(request, [as_json], "application/json")
        return respond(request, [as_html], "text/html")

    async def metrics_page(request: Request) -> Response:
        # check names are internal: public by default only while the daemon listens on loopback
        if not web.config().model.api.metrics_open(web.ctx.listen_host):
            web.require(request, "viewer")
        text = await run_in_threadpool(metrics.exposition, web.config(), web.store, web.now())
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def login_form(request: Request, error: str = "", status_code: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        resp = web.render(request, "login.html", status_code=status_code, principal=False, csrf=token, error=error,
                          next=_safe_next(request.query_params.get("next")))
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login",
                        secure=web.config().model.api.secure_cookies)
        return resp

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return await login_form(request)
        try:
            web.guard.check(web.remote(request), web.now())  # before the form is read or a token tried
        except Throttled as e:
            web.refused(request, e)
            resp = await login_form(request, e.message, 429)
            resp.headers.update(e.headers)
            return resp
        form = await request.form()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf", ""))):
            return await login_form(request, "the form expired; try again", 403)
        cfg = web.config()
        m = match_token(cfg, str(form.get("token", "")).strip())
        if m is None:
            web.failed_login(request)
            web.refused(request, AuthError("login with an unknown token"))
            return await login_form(request, "unknown token", 401)
        name, value, role = m
        cookie_value, _ = web.sessions.issue(name, value, web.now())

        web.audit(request, Principal(name, role, "session"), "login", name, "ok")
        resp = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
        resp.set_cookie(SESSION_COOKIE, cookie_value, max_age=int(cfg.model.api.session_ttl), httponly=True,
                        samesite="lax", secure=cfg.model.api.secure_cookies)
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    async def logout(request: Request) -> Response:
        p = web.principal(request)
        if p is not None and p.via == "session":
            form = await request.form()
            check_csrf(p, str(form.get("csrf", "")))
            # server-side: a copy of the cookie (another tab, a stolen one) stops working too
            web.sessions.revoke(p.session, web.now())
            web.audit(request, p, "logout", p.name, "ok")
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    async def robots(request: Request) -> Response:
        return PlainTextResponse("User-agent: *\nDisallow: /\nAllow: /status\n")

    return [
        Route("/status", status_page, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/robots.txt", robots, methods=["GET"]),
    ]
