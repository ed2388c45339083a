"""The sample service opsbook's demo and tests probe: a tiny habit-tracker API.

    python -m opsbook.demo.app --port 8080 --db demo.db [--fault-file F] [--ready-after 3]

It mirrors the endpoints of the seed runbooks (``/health``, ``/readyz`` with ``SELECT 1`` and
a migrations table, a login, ``/metrics``) and has a fault switch so failures can be shown:
``POST /admin/fault {"mode": "down"|"slow"|"errors"|"degraded"|"none"}``, or a ``--fault-file``
whose content is the mode (an empty file means ``down``; a missing file means no fault).
``degraded`` is what a bad canary looks like: every answer 150 ms slower and a share of each
path's answers (``"rate"``, default 0.05) a 500, e.g. ``{"mode": "degraded", "rate": 0.05}``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import db
from .metrics import Metrics

MODES = ("none", "down", "slow", "errors", "degraded")
SLOW_SECONDS = 0.8
DEGRADED_SECONDS = 0.15
DEGRADED_RATE = 0.05
VERSION = "1.0.0"


class State:
    def __init__(self, db_path: Path, fault_file: Path | None, ready_after: float) -> None:
        self.db_path = db_path
        self.fault_file = fault_file
        self.ready_at = time.monotonic() + ready_after
        self.mode = "none"
        self.tokens: dict[str, str] = {}  # in memory: a restart logs everyone out, fine for a demo
        self.metrics = Metrics()
        self._api_calls = itertools.count()
        self.rate = DEGRADED_RATE
        self._degraded_calls: dict[str, itertools.count[int]] = {}

    def fault(self) -> str:
        """The file wins over the API switch, so an operator can break the service from outside."""
        if self.fault_file is not None:
            try:
                text = self.fault_file.read_text().strip().lower()
            except FileNotFoundError:
                return self.mode
            except OSError:
                return "down"
            return text if text in MODES else "down"
        return self.mode

    def next_api_call_fails(self) -> bool:
        # every other call: exactly 50 %, deterministic so tests and demos are repeatable
        return next(self._api_calls) % 2 == 1

    def next_call_degrades(self, path: str) -> bool:
        # exactly `rate` of each path's calls, spread evenly and deterministically (call n fails
        # when floor((n + 1) * rate) passes an integer): 5 % is every 20th
        n = next(self._degraded_calls.setdefault(path, itertools.count()))
        return int((n + 1) * self.rate) > int(n * self.rate)


def _state(request: Request) -> State:
    state: State = request.app.state.demo
    return state


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "demo", "version": VERSION})


async def readyz(request: Request) -> Response:
    st = _state(request)
    checks = {"database": False, "migrations": False}
    if st.fault() != "down":
        try:
            conn = db.connect(st.db_path)
            try:
                checks["database"] = conn.execute("SELECT 1").fetchone()[0] == 1
                row = conn.execute("SELECT count(*) FROM _sqlx_migrations").fetchone()
                checks["migrations"] = row[0] > 0
            finally:
                conn.close()
        except sqlite3.Error:
            pass
    warming = time.monotonic() < st.ready_at
    if all(checks.values()) and not warming:
        return JSONResponse({"status": "ready", "checks": checks})
    body: dict[str, object] = {"status": "not_ready", "checks": checks}
    if warming:
        body["reason"] = "starting up"
    return JSONResponse(body, status_code=503)


async def login(request: Request) -> Response:
    st = _state(request)
    try:
        data = await request.json()
    except ValueError:
        return JSONResponse({"error": "expected a JSON body"}, status_code=400)
    if not isinstance(data, dict) or not isinstance(data.get("email"), str) or not isinstance(
        data.get("password"), str
    ):
        return JSONResponse({"error": "email and password are required"}, status_code=400)
    conn = db.connect(st.db_path)
    try:
        row = conn.execute(
            "SELECT password_hash FROM users WHERE email = ?", (data["email"],)
        ).fetchone()
    finally:
        conn.close()
    if row is None or not db.verify_password(data["password"], row["password_hash"]):
        return JSONResponse({"error": "invalid email or password"}, status_code=401)
    token = secrets.token_urlsafe(24)
    st.tokens[token] = data["email"]
    return JSONResponse({"access_token": token, "token_type": "bearer"})


async def me(request: Request) -> Response:
    st = _state(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    email = st.tokens.get(token) if scheme.lower() == "bearer" else None
    if email is None:
        return JSONResponse({"error": "not authenticated"}, status_code=401)
    return JSONResponse({"email": email})


async def metrics(request: Request) -> Response:
    return PlainTextResponse(
        _state(request).metrics.render(), media_type="text/plain; version=0.0.4"
    )


async def set_fault(request: Request) -> Response:
    st = _state(request)
    try:
        data = await request.json()
    except ValueError:
        data = None
    mode = data.get("mode") if isinstance(data, dict) else None
    if mode not in MODES:
        return JSONResponse({"error": f"mode is one of {', '.join(MODES)}"}, status_code=400)
    rate = data.get("rate", DEGRADED_RATE) if isinstance(data, dict) else DEGRADED_RATE
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        return JSONResponse({"error": "rate is a share between 0 and 1, e.g. 0.05"}, status_code=400)
    st.mode, st.rate = mode, float(rate)
    return JSONResponse({"mode": st.fault(), "rate": st.rate})


ROUTES = [
    Route("/health", health),
    Route("/readyz", readyz),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/me", me),
    Route("/metrics", metrics),
    Route("/admin/fault", set_fault, methods=["POST"]),
]
_KNOWN = {r.path for r in ROUTES}

Call = Callable[[Request], Awaitable[Response]]


def create_app(db_path: Path, fault_file: Path | None = None, ready_after: float = 0.0) -> Starlette:
    db.init_db(db_path)
    state = State(db_path, fault_file, ready_after)

    async def faults_and_metrics(request: Request, call_next: Call) -> Response:
        st = state
        path = request.url.path
        start = time.perf_counter()
        mode = st.fault()
        if path.startswith("/admin") or path == "/metrics":
            mode = "none"  # the switch and the scrape must keep working while faulty
        if mode == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        if mode == "degraded":
            await asyncio.sleep(DEGRADED_SECONDS)
        if (mode == "errors" and path.startswith("/api") and st.next_api_call_fails()) or (
                mode == "degraded" and st.next_call_degrades(path if path in _KNOWN else "other")):
            response: Response = JSONResponse({"error": "injected fault"}, status_code=500)
        else:
            response = await call_next(request)
        label = path if path in _KNOWN else "other"  # bounded label values
        st.metrics.observe(request.method, label, response.status_code, time.perf_counter() - start)
        return response

    app = Starlette(
        routes=ROUTES, middleware=[Middleware(BaseHTTPMiddleware, dispatch=faults_and_metrics)]
    )
    app.state.demo = state
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m opsbook.demo.app", description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--db", type=Path, default=Path("demo.db"))
    ap.add_argument("--fault-file", type=Path, default=None)
    ap.add_argument("--ready-after", type=float, default=0.0, metavar="SECONDS",
                    help="answer /readyz with 503 for this long after start")
    args = ap.parse_args(argv)
    app = create_app(args.db, args.fault_file, args.ready_after)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
