"""The dashboard's canary rollout pages: /rollouts (newest first, status coloured) and
/rollouts/{id} (the decision and reason on top, per metric the measurements by step and target,
the events with commands and their exit codes), and /rollouts/{id}.md (render/canary.py's
Markdown record). Read-only, viewer role; the documents are ops/rollouts.py's (the API's too), so URLs come
without credentials and text redacted. Jinja autoescapes everything they show."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..ops import rollouts
from . import api_rollouts as api
from .state import Web

SHOWN = 200  # rollouts listed on /rollouts
BADGE = {"promoted": "pass", "rolled_back": "fail", "aborted": "fail", "could_not_measure": "nodata",
         "inconclusive": "blocked", "running": "pending"}


def by_metric(measurements: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per metric (in the order first measured), its measurements by step, then target, then time."""
    out: dict[str, list[dict[str, Any]]] = {}
    for m in measurements:
        out.setdefault(m["metric"], []).append(m)
    return [(k, sorted(v, key=lambda m: (m["step"], m["target"], m["at"]))) for k, v in out.items()]


def routes(web: Web) -> list[Route]:
    async def list_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        canary = request.query_params.get("canary") or None
        items = await run_in_threadpool(rollouts.listing, web.store, canary, SHOWN)
        return web.render(request, "rollouts.html", principal=p, rollouts=items, canary=canary, badge=BADGE)

    async def rollout_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        doc = await run_in_threadpool(rollouts.record, web.store, api.rollout_id(request))
        return web.render(request, "rollout.html", principal=p, doc=doc, r=doc["rollout"], badge=BADGE,
                          metrics=by_metric(doc["measurements"]))

    async def markdown(request: Request) -> Response:
        web.require(request, "viewer")
        text = await run_in_threadpool(rollouts.markdown, web.store, api.rollout_id(request))
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

    return [Route("/rollouts", list_page, methods=["GET"]),
            Route("/rollouts/{id:int}.md", markdown, methods=["GET"]),
            Route("/rollouts/{id}", rollout_page, methods=["GET"])]
