"""The canary rollouts of /api/v1 (viewer, read-only): the list, newest first, and one rollout's
record, as ops/rollouts.py reads them (the CLI shows the same documents); the /rollouts pages
(web/rollout_pages.py) too. Here: the request's id and limit, checked."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..errors import ApiError
from ..ops import rollouts
from .state import Web


def rollout_id(request: Request) -> int:
    raw = request.path_params["id"]
    try:
        n = int(raw)
    except ValueError:
        raise ApiError(404, f"no rollout {raw!r}", hint="a rollout id is a number") from None
    if not 1 <= n < 2**62:
        raise ApiError(404, f"no rollout {raw!r}")
    return n


def query_limit(request: Request) -> int:
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        raise ApiError(400, "limit is a number from 1 to 1000") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit is a number from 1 to 1000")
    return limit


async def list_rollouts(web: Web, request: Request) -> Any:
    canary = request.query_params.get("canary") or None
    items = await run_in_threadpool(rollouts.listing, web.store, canary, query_limit(request))
    return {"schema": "opsbook.api.rollouts/1", "rollouts": items}


async def get_rollout(web: Web, request: Request) -> Any:
    return await run_in_threadpool(rollouts.record, web.store, rollout_id(request))
