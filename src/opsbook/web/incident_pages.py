"""The dashboard's incident pages: the open ones on the overview, /incidents (open first, then
recent), /incidents/{id} (the record, its derived times, the newest timeline entries, the newest
events) and, for operators, plain HTML forms to acknowledge, mitigate, resolve, close or cancel,
assign a role, note, and post a public update. The forms call the same ops functions as the CLI
and the API, audited through ``web.mutate``; an invalid move or a lost race (another operator
moved it first) comes back as a flash message on the incident's page, a missing role or CSRF
token as 403.

The page shows the newest ``PAGE`` timeline entries (``?limit=`` shows more, up to the
timeline's bound): an incident with 10,000 entries in its window renders in a few milliseconds
instead of half a second, and the older entries are one link away; the post-mortem and the API
carry the whole timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..config.secrets import redactor
from ..errors import ApiError, IncidentConflict, OpsbookError, UsageError
from ..ops import escalation, incident, incident_edit, incident_update, timeline
from .auth import Principal, check_csrf
from .envelope import flash_error
from .state import Web

RECENT = 50  # closed incidents listed under the open ones
PAGE = 200  # timeline entries the page shows unless ?limit= asks for more
EVENTS = 50  # the newest events listed under the timeline (all of them are in the timeline too)
# form verb -> the status it moves to (the CLI's and the API's commands of the same names)
MOVES: dict[str, str] = {"ack": "investigating", "mitigate": "mitigated", "resolve": "resolved", "close": "closed",
                         "cancel": "cancelled"}
FORMS: tuple[str, ...] = (*MOVES, "note", "assign", "update", "escalate")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    return min(max(int(raw), PAGE), timeline.MAX_ROWS) if raw.isdigit() else PAGE


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

        limit = _limit(request)

        def gather() -> dict[str, Any]:
            try:
                got = timeline.page(web.store, iid, web.now(), limit, EVENTS)
            except UsageError:
                raise ApiError(404, f"no incident {iid}", hint="/incidents lists them") from None
            inc = got.incident
            cfg = web.config()
            ladder = escalation.state(cfg, web.store, iid)
            return {"inc": redactor.redact(inc.to_dict()), "timeline": redactor.redact(got.timeline.to_dict()),
                    "limit": limit, "more_limit": min(limit * 5, timeline.MAX_ROWS),
                    "events_hidden": got.events_total - len(inc.events),
                    "entries_hidden": max(0, got.entries_total - len(got.timeline.entries)),
                    "moves": [v for v, to in MOVES.items() if to in incident.NEXT[inc.status]],
                    "roles": cfg.model.incidents.roles, "people": list(cfg.model.people),
                    "public_statuses": incident_update.PUBLIC_STATUSES,
                    "components": [c.name for c in cfg.model.status_page.components],
                    "escalation": ladder.line() if ladder else None,
                    # a button only while the ladder has a level left to fire (escalation.escalate refuses otherwise)
                    "can_escalate": bool(ladder and not ladder.row.stopped and inc.status == "triage")}

        return web.render(request, "incident.html", principal=p, done=request.query_params.get("done"),
                          error=request.query_params.get("error"), **await run_in_threadpool(gather))

    async def act(request: Request, verb: str) -> Response:
        iid = _id(request)
        web.authenticated(request, "operator")  # before the id is looked up or the form read
        form = await request.form()
        back = f"/incidents/{iid}"

        async def do(p: Principal) -> Any:
            check_csrf(p, str(form.get("csrf", "")))
            now = web.now()
            expected = str(form.get("expected", "")) or None  # the status the page showed: a race is a conflict
            return await run_in_threadpool(lambda: _apply(web, iid, verb, form, expected, p.name, now))

        try:
            await web.mutate(request, "operator", f"incident.{verb}", str(iid), do, _detail(verb, form))
        except OpsbookError as e:
            return flash_error(e, back)
        return RedirectResponse(f"{back}?done=incident.{verb}", status_code=303)

    def action(verb: str) -> Any:
        async def handler(request: Request) -> Response:
            return await act(request, verb)
        return handler

    return [
        Route("/incidents", list_page, methods=["GET"]),
        Route("/incidents/{id}", incident_page, methods=["GET"]),
        *[Route(f"/incidents/{{id}}/{verb}", action(verb), methods=["POST"]) for verb in FORMS],
    ]


def _detail(verb: str, form: Any) -> dict[str, Any] | None:
    """What the audit log keeps of a form (never a note's or an update's text: it can be long)."""
    keys = {"assign": ("role", "person"), "update": ("status",), "cancel": ("reason",)}.get(verb, ())
    got = {k: str(form.get(k, "")) for k in (*keys, "expected") if form.get(k)}
    return got or None


def _apply(web: Web, iid: int, verb: str, form: Any, expected: str | None, actor: str, now: datetime) -> Any:
    """One form's action, through the ops function the CLI calls for the same command."""
    inc = _show(web, iid)
    if verb == "escalate":  # `opsbook incident escalate`: the next level now, without waiting for it
        return escalation.escalate(web.store, web.config(), iid, actor, now, worker=f"web:{actor}")
    if verb == "note":
        return incident.note(web.store, iid, str(form.get("text", "")), actor, now)
    if verb == "update":
        comps = [f"{name}={form.get(f'component.{name}')}" for name in
                 (c.name for c in web.config().model.status_page.components) if form.get(f"component.{name}")]
        return incident_update.publish(web.store, web.config(), iid, str(form.get("message", "")),
                                       str(form.get("status", "")), actor, now, components=comps)
    if verb == "assign":
        # ops.incident.assign compares and sets on the row's version it reads itself; the page's
        # status is checked here so that a form shown before someone closed it is a conflict
        if expected is not None and inc.status != expected:
            r = inc.row
            raise IncidentConflict(
                f"incident {iid} changed under you: it was {expected}, {r.updated_by} made it {r.status} "
                f"at {r.updated_at.isoformat()}", hint="nothing was changed; reload the page and retry if needed")
        person = str(form.get("person", "")).strip()
        if not person:
            raise UsageError("assigning a role needs a person", hint="type a name (from people:, when it lists any)")
        cfg = web.config().model
        return incident.assign(web.store, cfg.incidents, iid, str(form.get("role", "")), person, actor, now,
                               people=list(cfg.people) or None)
    if MOVES[verb] == "closed":  # through the post-mortem policy, like `incident close`
        return incident_edit.close(web.store, web.config().model.incidents, iid, actor, now)
    return incident.move(web.store, iid, MOVES[verb], actor, now, expected=expected,
                         reason=str(form.get("reason", "")).strip())
