"""The incident endpoints of /api/v1: list and show (viewer); declare, move, assign a role, note,
escalate and post a public update (operator), audited through ``web.mutate`` and calling the same ops
functions as the CLI. An invalid move is a 400, a lost compare-and-set a 409 (``IncidentConflict``), as
is closing without a required post-mortem; an unknown id a 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config.secrets import redactor
from ..errors import ApiError, IncidentConflict, UsageError
from ..ops import escalation, incident, incident_edit, incident_update
from .auth import Principal, check_csrf
from .state import Web

# API verb -> the status it moves to (the CLI's commands of the same names)
MOVES: dict[str, str] = {"ack": "investigating", "mitigate": "mitigated", "resolve": "resolved", "close": "closed",
                         "cancel": "cancelled"}


class DeclareIn(BaseModel):
    title: str = Field(min_length=1, description="what is wrong, e.g. Checkout returns 502")
    severity: str = Field(description="a severity from incidents.severities, e.g. SEV2")
    components: list[str] = Field(default_factory=list, description="affected components")
    summary: str = ""
    detected_at: datetime | None = Field(default=None, description="when it started (default: now)")


class MoveIn(BaseModel):
    expected: str | None = Field(default=None, description="the status you last saw; if it changed since: 409")
    reason: str = Field(default="", description="why (cancel only)")


class AssignIn(BaseModel):
    role: str = Field(description="a role from incidents.roles, e.g. commander")
    person: str = Field(min_length=1, description="who takes it (a name from people:, when the config lists people)")
    expected: str | None = Field(default=None, description="the status you last saw; if it changed since: 409")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, description="a line for the incident's timeline")


class UpdateIn(BaseModel):
    message: str = Field(min_length=1, description="the public text shown on /status")
    status: str = Field(description="investigating|identified|monitoring|resolved")
    components: list[str] = Field(default_factory=list,
                                  description='status page components, e.g. ["Storefront=outage"]')


def _doc(inc: incident.Incident) -> dict[str, Any]:
    return {"schema": "opsbook.api.incident/1", "incident": redactor.redact(inc.to_dict())}


def _id(request: Request) -> int:
    raw = request.path_params["id"]
    try:
        iid = int(raw)
    except ValueError:
        raise ApiError(400, f"an incident id is a number, got {raw!r}") from None
    return iid


def _exists(web: Web, iid: int) -> None:
    try:
        incident.show(web.store, iid)
    except UsageError:
        raise ApiError(404, f"no incident {iid}", hint="GET /api/v1/incidents?status=all lists them") from None


async def list_incidents(web: Web, request: Request) -> Any:
    which = request.query_params.get("status", "open")
    if which not in ("open", "all"):
        raise ApiError(400, f"status must be open or all, got {which!r}")
    items = incident.list_incidents(web.store, open_only=which == "open", since=None)
    return {"schema": "opsbook.api.incidents/1",
            "incidents": redactor.redact([i.to_dict(with_events=False) for i in items])}


async def get_incident(web: Web, request: Request) -> Any:
    iid = _id(request)
    _exists(web, iid)
    doc = _doc(incident.show(web.store, iid))
    state = escalation.state(web.config(), web.store, iid)
    doc["escalation"] = state.to_dict() if state else None
    return doc


async def escalate(web: Web, request: Request) -> Any:
    iid = _id(request)
    _exists(web, iid)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return escalation.escalate(web.store, web.config(), iid, p.name, web.now(), worker=f"api:{p.name}")

    done = await web.mutate(request, "operator", "incident.escalate", str(iid), do)
    state = escalation.state(web.config(), web.store, iid)
    return {"schema": "opsbook.api.incident-escalation/1", **done.to_dict(),
            "escalation": state.to_dict() if state else None}


async def _body(request: Request, model: type[BaseModel]) -> Any:
    from .api import _body as parse

    return await parse(request, model)


async def declare(web: Web, request: Request) -> Any:
    body: DeclareIn = await _body(request, DeclareIn)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return incident.declare(web.store, web.config().model.incidents, body.title, body.severity, p.name,
                                web.now(), components=body.components, summary=body.summary,
                                detected_at=body.detected_at, model=web.config().model)

    inc = await web.mutate(request, "operator", "incident.declare", body.title, do, {"severity": body.severity})
    return JSONResponse(_doc(inc), status_code=201)


async def move(web: Web, request: Request) -> Any:
    iid, verb = _id(request), request.url.path.rstrip("/").rsplit("/", 1)[1]  # one route per verb
    _exists(web, iid)
    body: MoveIn = await _body(request, MoveIn)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        if MOVES[verb] == "closed":  # through the post-mortem policy, like `incident close`
            return incident_edit.close(web.store, web.config().model.incidents, iid, p.name, web.now())
        return incident.move(web.store, iid, MOVES[verb], p.name, web.now(), expected=body.expected,
                             reason=body.reason)

    detail = {k: v for k, v in (("expected", body.expected), ("reason", body.reason)) if v}
    return _doc(await web.mutate(request, "operator", f"incident.{verb}", str(iid), do, detail or None))


async def assign(web: Web, request: Request) -> Any:
    iid = _id(request)
    _exists(web, iid)
    body: AssignIn = await _body(request, AssignIn)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        if body.expected is not None:
            row = incident.show(web.store, iid).row
            if row.status != body.expected:
                raise IncidentConflict(f"incident {iid} changed under you: it was {body.expected}, {row.updated_by} "
                                       f"made it {row.status} at {row.updated_at.isoformat()}",
                                       hint=f"nothing was changed; GET /api/v1/incidents/{iid} and retry if needed")
        cfg = web.config().model
        return incident.assign(web.store, cfg.incidents, iid, body.role, body.person.strip(), p.name, web.now(),
                               people=list(cfg.people) or None)

    detail = {"role": body.role, "person": body.person}
    return _doc(await web.mutate(request, "operator", "incident.assign", str(iid), do, detail))


async def add_note(web: Web, request: Request) -> Any:
    iid = _id(request)
    _exists(web, iid)
    body: NoteIn = await _body(request, NoteIn)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return incident.note(web.store, iid, body.text, p.name, web.now())

    return JSONResponse(_doc(await web.mutate(request, "operator", "incident.note", str(iid), do)), status_code=201)


async def add_update(web: Web, request: Request) -> Any:
    iid = _id(request)
    _exists(web, iid)
    body: UpdateIn = await _body(request, UpdateIn)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return incident_update.publish(web.store, web.config(), iid, body.message, body.status, p.name, web.now(),
                                       components=body.components)

    done = await web.mutate(request, "operator", "incident.update", str(iid), do,
                            {"status": body.status, "components": body.components})
    return JSONResponse({"schema": "opsbook.api.incident-update/1", **redactor.redact(done.to_dict())},
                        status_code=201)
