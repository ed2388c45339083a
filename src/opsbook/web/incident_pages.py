"""The dashboard's incident pages: the open ones on the overview, /incidents (open first, then
recent), /incidents/{id} (the record, its derived times, the timeline, the events) and, for
operators, plain HTML forms to acknowledge, note, mitigate and resolve. The forms call the same
ops functions as the CLI and the API, audited through ``web.mutate``; an invalid move or a lost
race comes back as a flash message on the incident's page, a missing role or CSRF token as 403."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..config.secrets import redactor
from ..errors import ApiError, OpsbookError, UsageError
from ..ops import escalation, incident, timeline
from .auth import Principal, check_csrf
from .envelope import status_of
from .state import Web

RECENT = 50  # closed incidents listed under the open ones
# form verb -> the status it moves to (the CLI's and the API's commands of the same names)
MOVES: dict[str, str] = {"ack": "investigating", "mitigate": "mitigated", "resolve": "resolved"}


def row_of(inc: incident.Incident, now: datetime) -> dict[str, Any]:
    """What a list shows of one incident (age: since detection)."""
    d = inc.to_dict(with_events=False)
    d["age_s"] = max(0.0, (now - inc.row.detected_at).total_seconds())
    return d


def open_rows(web: Web) -> list[dict[str, Any]]:
    """The open incidents for the overview: one store read, not part of the cached page body."""
    now = web.now()
    return [row_of(i, now) for i in incident.list_incidents(web.store, open_only=True, since=None, limit=20)]


def _id(request: Request) -> int:
    raw = request.path_params["id"]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, f"no incident {raw!r}", hint="/incidents lists them") from None


def _show(web: Web, iid: int) -> incident.Incident:
    try:
        return incident.show(web.store, iid)
    except UsageError:
        raise ApiError(404, f"no incident {iid}", hint="/incidents lists them") from None


def routes(web: Web) -> list[Route]:
    async def list_page(request: Request) -> Response:
        p = web.require(request, "viewer")

        def gather() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            now = web.now()
            items = incident.list_incidents(web.store, open_only=False, since=None, limit=RECENT + 200)
            opened = [row_of(i, now) for i in items if i.is_open]
            recent = [row_of(i, now) for i in items if not i.is_open][:RECENT]
            return opened, recent

        opened, recent = await run_in_threadpool(gather)
        return web.render(request, "incidents.html", principal=p, opened=redactor.redact(opened),
                          recent=redactor.redact(recent))

    async def incident_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        iid = _id(request)

        def gather() -> dict[str, Any]:
            inc = _show(web, iid)
            tl = timeline.for_incident(web.store, inc.row, web.now())
            ladder = escalation.state(web.config(), web.store, iid)
            return {"inc": redactor.redact(inc.to_dict()), "timeline": redactor.redact(tl.to_dict()),
                    "moves": [v for v, to in MOVES.items() if to in incident.NEXT[inc.status]],
                    "escalation": ladder.line() if ladder else None}

        return web.render(request, "incident.html", principal=p, done=request.query_params.get("done"),
                          error=request.query_params.get("error"), **await run_in_threadpool(gather))

    async def act(request: Request, verb: str) -> Response:
        iid = _id(request)
        web.authenticated(request, "operator")  # before the id is looked up or the form read
        form = await request.form()
        back = f"/incidents/{iid}"

        async def do(p: Principal) -> Any:
            check_csrf(p, str(form.get("csrf", "")))
            _show(web, iid)
            now = web.now()
            if verb == "note":
                return await run_in_threadpool(incident.note, web.store, iid, str(form.get("text", "")), p.name, now)
            expected = str(form.get("expected", "")) or None  # the status the page showed: a race is a conflict
            return await run_in_threadpool(lambda: incident.move(web.store, iid, MOVES[verb], p.name, now,
                                                                 expected=expected))

        try:
            await web.mutate(request, "operator", f"incident.{verb}", str(iid), do)
        except OpsbookError as e:
            if status_of(e) in (401, 403, 404):
                raise  # refused or missing: an error page, not a flash on a page
            return RedirectResponse(f"{back}?error={quote(redactor.text(e.message))}", status_code=303)
        return RedirectResponse(f"{back}?done=incident.{verb}", status_code=303)

    def action(verb: str) -> Any:
        async def handler(request: Request) -> Response:
            return await act(request, verb)
        return handler

    return [
        Route("/incidents", list_page, methods=["GET"]),
        Route("/incidents/{id}", incident_page, methods=["GET"]),
        *[Route(f"/incidents/{{id}}/{verb}", action(verb), methods=["POST"]) for verb in (*MOVES, "note")],
    ]
