"""The release endpoints of /api/v1: list (viewer); record and roll back (operator), audited
through ``web.mutate`` and calling the same ops functions as the CLI (ops/release.py). A bad
name or a conflicting record is a 400; a rollback that fails or is not verified is a 200 whose
document says ``ok: false`` (it ran, and the record keeps it), like the CLI's exit 1."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config.secrets import redactor
from ..errors import ApiError
from ..ops import release
from ..ops.record import Recorder
from .auth import Principal, check_csrf
from .state import Web


class RecordIn(BaseModel):
    service: str = Field(min_length=1, description="the service deployed, e.g. api")
    version: str = Field(min_length=1, description="the version deployed, e.g. v1.4.2")
    env: str | None = Field(default=None, description="the environment (default: the server's, else production)")
    commit: str | None = None
    committed_at: datetime | None = Field(default=None, description="when the commit was made (lead time)")
    url: str | None = Field(default=None, description="a link: the CI run, the changelog")


class RollbackIn(BaseModel):
    to: str = Field(default="previous", description="previous, or a recorded VERSION")
    env: str | None = Field(default=None, description="the environment (default: the server's, else production)")


def _env(web: Web, given: str | None) -> str:
    return given or web.config().env or "production"


async def list_releases(web: Web, request: Request) -> Any:
    q = request.query_params
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "limit is a number from 1 to 1000") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit is a number from 1 to 1000")
    items = await run_in_threadpool(release.listing, web.store, service=q.get("service"), env=q.get("env"),
                                    limit=limit)
    return {"schema": "opsbook.api.releases/1", "releases": redactor.redact([r.to_dict() for r in items])}


async def record(web: Web, request: Request) -> Any:
    from .api import _body

    body: RecordIn = await _body(request, RecordIn)
    env = _env(web, body.env)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return await run_in_threadpool(lambda: release.record(
            web.store, web.config(), service=body.service, version=body.version, env=env, by=p.name, now=web.now(),
            commit=body.commit, committed_at=body.committed_at, url=body.url))

    got = await web.mutate(request, "operator", "release.record", f"{body.service} {body.version}", do,
                           {"env": env})
    return JSONResponse(redactor.redact(got.to_dict()), status_code=201 if got.created else 200)


async def rollback(web: Web, request: Request) -> Any:
    from .api import _body

    service = request.path_params["service"]
    body: RollbackIn = await _body(request, RollbackIn)
    env = _env(web, body.env)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        cfg = web.config()

        def go() -> release.Rollback:
            plan = release.plan(web.store, cfg, service, body.to, env)
            return release.rollback(web.store, cfg, plan, p.name, Recorder(env, store=web.store), clock=web.now)

        return await run_in_threadpool(go)

    done = await web.mutate(request, "operator", "release.rollback", service, do, {"to": body.to, "env": env})
    return redactor.redact(done.to_dict())
