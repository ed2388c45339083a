"""The dashboard's /releases page: per service and environment, newest first, rollbacks marked
(from -> to and their outcome, on the release rolled back from). Read-only: recording and rolling
back are the CLI's and the API's (POST /api/v1/releases...)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config.secrets import redactor
from ..store import releases as rows
from .state import Web

SHOWN = 500  # releases read for the page


def groups(web: Web) -> list[dict[str, Any]]:
    """One group per (service, env), in name order; each group's releases newest first."""
    with web.store.read() as tx:
        items = rows.listing(tx, limit=SHOWN)
        done = rows.events(tx, kinds=("rollback_finished",), limit=SHOWN)
    by_release: dict[int, list[dict[str, Any]]] = {}
    for e in done:
        if e.release_id is not None:
            by_release.setdefault(e.release_id, []).append(
                {"from": e.detail.get("from"), "to": e.detail.get("to"), "outcome": e.detail.get("outcome"),
                 "message": e.detail.get("message", ""), "by": e.actor, "at": e.at.isoformat()})
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in items:
        g = out.setdefault((r.service, r.env), {"service": r.service, "env": r.env, "releases": []})
        g["releases"].append({**r.to_dict(), "rollbacks": by_release.get(r.id, [])})
    return [out[k] for k in sorted(out)]


def markers(web: Web, since: Any, until: Any) -> list[tuple[Any, str]]:
    """(time, label) of the releases in a chart's span, for its vertical markers."""
    with web.store.read() as tx:
        items = rows.listing(tx, since=since, until=until, limit=200)
    return [(r.recorded_at, f"{r.service} {r.version} ({r.env})") for r in reversed(items)]


def routes(web: Web) -> list[Route]:
    async def releases_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        found = await run_in_threadpool(groups, web)
        return web.render(request, "releases.html", principal=p, groups=redactor.redact(found))

    return [Route("/releases", releases_page, methods=["GET"])]
