"""The JSON API under /api/v1, declared as one route table that also writes the OpenAPI document."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config.secrets import redactor, reveal
from ..durations import parse_duration
from ..errors import ApiError, AuthError, Busy, OpsbookError, Throttled
from ..notify import acks, groups, silences
from ..rules import engine, heartbeats, slo
from . import api_db, audit, data
from . import api_incidents as inc
from . import api_releases as rel
from . import api_rollouts as rol
from . import api_runbooks as rbk
from .auth import Principal, check_csrf
from .data import as_dict
from .state import Cached, Web, json_bytes, respond

Handler = Callable[[Web, Request], Awaitable[Any]]
JOB_KINDS = ("backup", "drill", "integrity")


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    role: str | None  # None: public
    summary: str
    params: tuple[tuple[str, str, str], ...] = ()  # (name, in: path|query, description)
    body: type[BaseModel] | None = None
    tags: tuple[str, ...] = field(default=())
    conflicts: bool = False  # a compare-and-set: 409 when the row changed under the caller
    ok: str = ""  # the success status when it is not 200 (201 for a POST with a body)


# -- request bodies ------------------------------------------------------------------------------


class SilenceIn(BaseModel):
    matchers: list[str] = Field(min_length=1, description='label matchers: "alertname=DiskFull", "env=~prod|stage"')
    comment: str = Field(min_length=1, description="why; shown to whoever looks at the alert")
    duration: str = Field(default="1h", description="how long, e.g. 30m, 2h, 1d")


class AckIn(BaseModel):
    comment: str = ""


async def _body(request: Request, model: type[BaseModel]) -> Any:
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        form = await request.form()
        raw: Any = {k: (form.getlist(k) if k == "matchers" else form.get(k)) for k in form}
    else:
        try:
            raw = json.loads(await request.body() or b"{}")
        except ValueError as e:
            raise ApiError(400, f"the body is not JSON: {e}", hint="send Content-Type: application/json") from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, f"{where}: {first['msg']}", hint=f"see the {model.__name__} schema in "
                       "/api/v1/openapi.json") from None


def _int(request: Request, name: str, default: int | None, lo: int = 1, hi: int = 1000) -> int | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {v!r}") from None
    if not lo <= n <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}")
    return n


def _csrf(request: Request, p: Principal) -> None:
    check_csrf(p, request.headers.get("x-csrf-token"))


def _check_env(web: Web, request: Request, name: str) -> str:
    cfg = web.config()
    if name not in cfg.checks:
        raise ApiError(404, f"no check named {name!r}", hint="GET /api/v1/checks lists them")
    return request.query_params.get("env", cfg.env or "")


# -- handlers -----------------------------------------------------------------------------------


async def list_checks(web: Web, request: Request) -> Any:
    cfg = web.config()

    def make() -> Cached:  # the encoded document is what is cached: 1,000 checks are ~250 KB of JSON
        return Cached(json_bytes({"schema": "opsbook.api.checks/1",
                                  "checks": [r.to_dict() for r in data.check_rows(cfg, web.store, web.now())]}))

    return respond(request, [await web.cached(cfg, "api-checks", make)], "application/json")


async def get_check(web: Web, request: Request) -> Any:
    name = request.path_params["name"]
    env = _check_env(web, request, name)

    def make() -> dict[str, Any]:
        rows = [r for r in data.check_rows(web.config(), web.store, web.now()) if r.name == name and r.env == env]
        if not rows:
            raise ApiError(404, f"no results for {name!r} in env {env!r}")
        failure = data.last_failure(web.store, name, env)
        return {"schema": "opsbook.api.check/1", "check": rows[0].to_dict(),
                "last_failure": failure.to_dict() if failure else None}

    return await run_in_threadpool(make)


async def check_history(web: Web, request: Request) -> Any:
    name = request.path_params["name"]
    env = _check_env(web, request, name)
    limit = _int(request, "limit", 50) or 50
    before = _int(request, "before", None, 1, 2**62)
    items = data.history(web.store, name, env, limit, before)
    return {"schema": "opsbook.api.history/1", "check": name, "env": env, "results": items,
            "next_before": items[-1]["id"] if len(items) == limit else None}


async def _run_now(web: Web, kind: str, name: str) -> Any:
    if web.ctx.run_now is None:
        raise ApiError(503, "this server has no scheduler: it cannot run anything now",
                       hint="run `opsbook serve` (with its scheduler) or use the CLI", retryable=False)
    try:
        return redactor.redact(await web.ctx.run_now(kind, name))
    except Busy as e:  # a scheduled (or another manual) run holds the unit's lease
        raise ApiError(409, e.message, hint=e.hint, retryable=True) from None


async def run_check(web: Web, request: Request) -> Any:
    name = request.path_params["name"]
    _check_env(web, request, name)

    async def do(p: Principal) -> Any:
        _csrf(request, p)
        return await _run_now(web, "check", name)

    return await web.mutate(request, "operator", "check.run", name, do)


async def list_runs(web: Web, request: Request) -> Any:
    kind = request.query_params.get("kind")
    name = request.query_params.get("name")
    limit = _int(request, "limit", 50) or 50
    return {"schema": "opsbook.api.runs/1", "runs": data.runs(web.store, kind, name, limit)}


async def run_job(web: Web, request: Request) -> Any:
    kind, name = request.path_params["kind"], request.path_params["name"]
    if kind not in JOB_KINDS:
        raise ApiError(404, f"no job kind {kind!r}", hint=f"one of: {', '.join(JOB_KINDS)}")
    section = {"backup": "backups", "drill": "drills", "integrity": "integrity"}[kind]
    if name not in getattr(web.config().model, section):
        raise ApiError(404, f"no {kind} named {name!r}", hint=f"see {section}: in the config")

    async def do(p: Principal) -> Any:
        _csrf(request, p)
        return await _run_now(web, kind, name)

    return await web.mutate(request, "operator", f"{kind}.run", name, do)


async def list_alerts(web: Web, request: Request) -> Any:
    return {"schema": "opsbook.api.alerts/1", "alerts": redactor.redact(as_dict(engine.current_alerts(web.store))),
            "groups": redactor.redact(as_dict(groups.list_groups(web.store)))}


async def ack_alert(web: Web, request: Request) -> Any:
    group = request.path_params["group"]
    body = await _body(request, AckIn)

    async def do(p: Principal) -> Any:
        _csrf(request, p)
        return as_dict(acks.acknowledge(web.store, group, p.name, web.now(), comment=body.comment))

    return {"schema": "opsbook.api.ack/1", "ack": await web.mutate(
        request, "operator", "alert.ack", group, do, {"comment": body.comment})}


async def list_silences(web: Web, request: Request) -> Any:
    return {"schema": "opsbook.api.silences/1", "silences": as_dict(silences.list_active(web.store, web.now()))}


async def create_silence(web: Web, request: Request) -> Any:
    body: SilenceIn = await _body(request, SilenceIn)
    try:
        seconds = parse_duration(body.duration)
    except ValueError as e:
        raise ApiError(422, f"duration: {e}") from None

    async def do(p: Principal) -> Any:
        _csrf(request, p)
        now = web.now()
        return as_dict(silences.add(web.store, body.matchers, p.name, body.comment, now,
                                    now + timedelta(seconds=seconds), now))

    s = await web.mutate(request, "operator", "silence.add", ",".join(body.matchers), do,
                         {"comment": body.comment, "duration": body.duration})
    return JSONResponse({"schema": "opsbook.api.silence/1", "silence": s}, status_code=201)


async def expire_silence(web: Web, request: Request) -> Any:
    sid = request.path_params["id"]

    async def do(p: Principal) -> Any:
        _csrf(request, p)
        return as_dict(silences.expire(web.store, sid, web.now(), p.name))

    return {"schema": "opsbook.api.silence/1", "silence": await web.mutate(request, "operator", "silence.expire",
                                                                          sid, do)}


async def list_slos(web: Web, request: Request) -> Any:
    return {"schema": "opsbook.api.slos/1",
            "slos": redactor.redact(as_dict(slo.status(web.config(), web.store, web.now())))}


async def list_heartbeats(web: Web, request: Request) -> Any:
    return {"schema": "opsbook.api.heartbeats/1",
            "heartbeats": redactor.redact(as_dict(heartbeats.status(web.config(), web.store, web.now())))}


async def ping_heartbeat(web: Web, request: Request) -> Any:
    """Healthchecks-style push. A heartbeat with ``token:`` needs it (Bearer or ``?key=``); one
    without is authenticated by its name alone. An unknown name answers exactly like a wrong key
    (401), so names cannot be enumerated."""
    name, signal = request.path_params["name"], request.path_params["signal"]
    _heartbeat_key(web, request, name)
    if signal not in heartbeats.SIGNALS:
        raise ApiError(404, f"unknown signal {signal!r}", hint=f"one of: {', '.join(heartbeats.SIGNALS)}")
    body = (await _head(request, heartbeats.MAX_BODY)).decode("utf-8", "replace")
    heartbeats.record_ping(web.store, name, signal, web.now(), body=body, cfg=web.config())
    return {"schema": "opsbook.api.heartbeat-ping/1", "ok": True, "heartbeat": name, "signal": signal}


def _heartbeat_key(web: Web, request: Request, name: str) -> None:
    try:
        web.guard.check(web.remote(request), web.now())
    except Throttled as e:
        web.refused(request, e)
        raise
    hb = web.config().model.heartbeats.get(name)
    if hb is not None and hb.token is None:
        return  # no token configured: the name is the credential (documented)
    expected = ""
    if hb is not None:
        try:
            expected = reveal(hb.token, f"heartbeats.{name}.token") or ""
        except OpsbookError:
            expected = ""  # the token's variable or file is missing: refuse every ping
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    presented = value.strip() if scheme.lower() == "bearer" else request.query_params.get("key", "")
    # compare even for an unknown name, so the answer takes as long as for a known one
    same = hmac.compare_digest((expected or "-" * 32).encode(), presented.encode())
    if not (same and expected):
        refusal = AuthError("no such heartbeat, or a missing or wrong key",
                            hint="send the heartbeat's token as ?key=TOKEN or Authorization: Bearer TOKEN "
                                 "(heartbeats: NAME: token: in the config)")
        web.failed_login(request)
        web.refused(request, refusal)
        raise refusal


async def _head(request: Request, limit: int) -> bytes:
    """The first ``limit`` bytes of the body; the rest is not read (nor kept)."""
    out = bytearray()
    async for chunk in request.stream():
        out += chunk[:limit - len(out)]
        if len(out) >= limit:
            break
    return bytes(out)


async def list_audit(web: Web, request: Request) -> Any:
    limit = _int(request, "limit", 100) or 100
    before = _int(request, "before", None, 1, 2**62)
    return {"schema": "opsbook.api.audit/1", "entries": audit.recent(web.store, limit, before)}


async def whoami(web: Web, request: Request) -> Any:
    p = web.require(request, "viewer")
    return {"schema": "opsbook.api.whoami/1", "name": p.name, "role": p.role, "via": p.via}


async def openapi(web: Web, request: Request) -> Any:
    from .openapi import document

    return document(ROUTES)


_ENV = ("env", "query", "environment (default: the config's)")
_INC = ("id", "path", "incident id")
_RB = ("name", "path", "runbook name (its file's stem)")
_RUN = ("id", "path", "runbook run id")
_PING = (("name", "path", "heartbeat name"), ("signal", "path", "success|start|fail"),
         ("key", "query", "the heartbeat's token (or send Authorization: Bearer TOKEN)"))
ROUTES: list[ApiRoute] = [
    ApiRoute("GET", "/api/v1/openapi.json", openapi, None, "This OpenAPI 3.1 document", tags=("meta",)),
    ApiRoute("GET", "/api/v1/whoami", whoami, "viewer", "The token's name and role", tags=("meta",)),
    ApiRoute("GET", "/api/v1/checks", list_checks, "viewer", "Every check: status, since, last error, uptime",
             tags=("checks",)),
    ApiRoute("GET", "/api/v1/checks/{name}", get_check, "viewer", "One check and its last failure's evidence",
             (("name", "path", "check name"), _ENV), tags=("checks",)),
    ApiRoute("GET", "/api/v1/checks/{name}/history", check_history, "viewer", "A check's results, newest first",
             (("name", "path", "check name"), _ENV, ("limit", "query", "1-1000, default 50"),
              ("before", "query", "result id cursor: next_before of the previous page")), tags=("checks",)),
    ApiRoute("POST", "/api/v1/checks/{name}/run", run_check, "operator", "Run a check now",
             (("name", "path", "check name"),), tags=("checks",)),
    ApiRoute("GET", "/api/v1/runs", list_runs, "viewer", "Backup, drill, integrity, gate and smoke runs",
             (("kind", "query", "backup|drill|integrity|gate|smoke|..."), ("name", "query", "unit name"),
              ("limit", "query", "1-1000, default 50")), tags=("jobs",)),
    ApiRoute("POST", "/api/v1/jobs/{kind}/{name}/run", run_job, "operator", "Run a backup, drill or integrity "
             "suite now", (("kind", "path", "backup|drill|integrity"), ("name", "path", "unit name")), tags=("jobs",)),
    ApiRoute("GET", "/api/v1/alerts", list_alerts, "viewer", "Alerts (pending and firing) and notification groups",
             tags=("alerts",)),
    ApiRoute("POST", "/api/v1/alerts/{group}/ack", ack_alert, "operator", "Acknowledge a notification group",
             (("group", "path", "group key or id"),), AckIn, tags=("alerts",)),
    ApiRoute("GET", "/api/v1/silences", list_silences, "viewer", "Active silences", tags=("alerts",)),
    ApiRoute("POST", "/api/v1/silences", create_silence, "operator", "Silence alerts matching labels",
             body=SilenceIn, tags=("alerts",)),
    ApiRoute("DELETE", "/api/v1/silences/{id}", expire_silence, "operator", "Expire a silence now",
             (("id", "path", "silence id"),), tags=("alerts",)),
    ApiRoute("GET", "/api/v1/slos", list_slos, "viewer", "SLOs: error budget remaining and burn rates",
             tags=("slos",)),
    ApiRoute("GET", "/api/v1/heartbeats", list_heartbeats, "viewer", "Heartbeats and when each is due",
             tags=("heartbeats",)),
    ApiRoute("POST", "/api/v1/heartbeats/{name}/{signal}", ping_heartbeat, None,
             "Push a heartbeat ping (success|start|fail) with the heartbeat's token, if it has one; "
             "the body (first 10,000 bytes kept) is stored with the ping", _PING, tags=("heartbeats",)),
    ApiRoute("GET", "/api/v1/heartbeats/{name}/{signal}", ping_heartbeat, None, "Same as POST, for curl and cron",
             _PING, tags=("heartbeats",)),
    ApiRoute("GET", "/api/v1/incidents", inc.list_incidents, "viewer", "Incidents, newest first (open ones unless "
             "status=all)", (("status", "query", "open (default) or all"),), tags=("incidents",)),
    ApiRoute("POST", "/api/v1/incidents", inc.declare, "operator", "Declare an incident (it starts in triage)",
             body=inc.DeclareIn, tags=("incidents",)),
    ApiRoute("GET", "/api/v1/incidents/{id}", inc.get_incident, "viewer", "One incident with its events and derived "
             "times", (_INC,), tags=("incidents",)),
    *[ApiRoute("POST", f"/api/v1/incidents/{{id}}/{verb}", inc.move, "operator",
               f"Move an incident to {to} (400 if the lifecycle does not allow it, 409 if it changed under you)",
               (_INC,), inc.MoveIn, tags=("incidents",), conflicts=True) for verb, to in inc.MOVES.items()],
    ApiRoute("POST", "/api/v1/incidents/{id}/assign", inc.assign, "operator", "Give an incident role to a person "
             "(400 for an unknown role or person, or a closed incident; 409 if it changed under you)", (_INC,),
             inc.AssignIn, tags=("incidents",), conflicts=True),
    ApiRoute("POST", "/api/v1/incidents/{id}/notes", inc.add_note, "operator", "Add a note to an incident's "
             "timeline", (_INC,), inc.NoteIn, tags=("incidents",)),
    ApiRoute("POST", "/api/v1/incidents/{id}/updates", inc.add_update, "operator", "Post a public update "
             "(shown on /status)", (_INC,), inc.UpdateIn, tags=("incidents",)),
    ApiRoute("POST", "/api/v1/incidents/{id}/escalate", inc.escalate, "operator", "Fire the incident's next "
             "escalation level now (400 if it does not escalate any more)", (_INC,), tags=("incidents",)),
    ApiRoute("GET", "/api/v1/runbooks", rbk.list_runbooks, "viewer", "Every runbook: summary, lint findings and "
             "status, last run; files that do not parse under errors", tags=("runbooks",)),
    ApiRoute("GET", "/api/v1/runbooks/{name}", rbk.get_runbook, "viewer", "One runbook parsed: front matter, "
             "prose, steps and checklist items of both sections, lint findings", (_RB,), tags=("runbooks",)),
    ApiRoute("POST", "/api/v1/runbooks/{name}/run", rbk.run_runbook, "operator", "Start a run (or a dry-run) "
             "walking in the background: 202 with its id; 400 for bad parameters, 409 naming the holder of its "
             "lock, 503 when this server walks as many runs as it may", (_RB,), rbk.RunIn, tags=("runbooks",),
             conflicts=True, ok="202"),
    ApiRoute("GET", "/api/v1/runbook-runs", rbk.list_runbook_runs, "viewer", "Runbook runs, newest first",
             (("runbook", "query", "only this runbook's"), ("status", "query", "only runs in this status"),
              ("limit", "query", "1-1000, default 50")), tags=("runbooks",)),
    ApiRoute("GET", "/api/v1/runbook-runs/{id}", rbk.get_runbook_run, "viewer", "A run's record (opsbook."
             "runbook_run/1, secrets redacted) and whether this server is walking it", (_RUN,), tags=("runbooks",)),
    ApiRoute("GET", "/api/v1/runbook-runs/{id}/output", rbk.get_output, "viewer", "A step's output: the running "
             "step's so far from byte `after` (at most 64 KiB a call), an ended step's recorded output whole",
             (_RUN, ("step", "query", "step attempt id (default: the running or last one)"),
              ("after", "query", "byte offset: `next` of the previous call")), tags=("runbooks",)),
    *[ApiRoute("POST", f"/api/v1/runbook-runs/{{id}}/{verb}", rbk.HANDLERS[verb], "operator", what, (_RUN,),
               rbk.ActIn, tags=("runbooks",), conflicts=True, ok="202" if verb in ("resume", "reject") else "200")
      for verb, what in (
          ("approve", "Approve the step a run waits on (409 for the run's own operator or when it waits on "
                      "nothing); the run continues in the background unless it needs secret parameters"),
          ("reject", "Reject the step a run waits on: the run is aborted and its rollback runs (202)"),
          ("ack", "Acknowledge the checklist item a run waits on; the run continues as after an approval"),
          ("abort", "Stop a run where it is (no rollback)"),
          ("resume", "Continue a failed, interrupted or waiting run in the background (202); secret "
                     "parameters again in params, yes to confirm a confirm=true step"))],
    ApiRoute("GET", "/api/v1/releases", rel.list_releases, "viewer", "Releases, newest first",
             (("service", "query", "only this service"), ("env", "query", "only this environment"),
              ("limit", "query", "1-1000, default 100")), tags=("releases",)),
    ApiRoute("POST", "/api/v1/releases", rel.record, "operator", "Record a deploy (201; 200 when this service, "
             "version and env is already recorded; 400 when it was recorded with another commit, time or url)",
             body=rel.RecordIn, tags=("releases",)),
    ApiRoute("POST", "/api/v1/releases/{service}/rollback", rel.rollback, "operator", "Roll a service back, "
             "verify it and record the outcome (ok false when the rollback or its verification failed)",
             (("service", "path", "service name"),), rel.RollbackIn, tags=("releases",)),
    ApiRoute("GET", "/api/v1/rollouts", rol.list_rollouts, "viewer", "Canary rollouts, newest first (URLs "
             "without credentials)",
             (("canary", "query", "only this canary's"), ("limit", "query", "1-1000, default 50")),
             tags=("rollouts",)),
    ApiRoute("GET", "/api/v1/rollouts/{id}", rol.get_rollout, "viewer", "A rollout's record (opsbook.api.rollout/1):"
             " the decision, its newest 2,000 measurements, its events with commands' exit codes and output tails",
             (("id", "path", "rollout id"),), tags=("rollouts",)),
    ApiRoute("GET", "/api/v1/db/{resource}/{report}", api_db.get_report, "viewer", "A diagnostics report of a "
             "postgres resource (connections, activity, locks, slow, indexes, tables, cache, replication, vacuum, "
             "or all)", (("resource", "path", "postgres resource name"), ("report", "path", "report name or all")),
             tags=("db",)),
    *[ApiRoute("POST", f"/api/v1/db/{{resource}}/{action}", api_db.remediate, "operator",
               f"{action.capitalize()} sessions: one pid, or every session idle in a transaction longer than a "
               "duration; never opsbook's own, superuser or replication sessions unless force; audited",
               (("resource", "path", "postgres resource name"),), api_db.RemediateIn, tags=("db",))
      for action in ("cancel", "terminate")],
    ApiRoute("GET", "/api/v1/audit", list_audit, "admin", "The audit log, newest first",
             (("limit", "query", "1-1000, default 100"), ("before", "query", "entry id cursor")), tags=("audit",)),
]


def _endpoint(web: Web, route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # authenticate before anything else: before a name is looked up (no enumeration by 404)
        # and before a body is read. Mutations authorize (and audit the role) inside web.mutate.
        if route.role is not None:
            if route.method == "GET":
                web.require(request, route.role)
            else:
                web.authenticated(request, route.role)
        out = await route.handler(web, request)
        return out if isinstance(out, Response) else JSONResponse(out)

    return endpoint


def routes(web: Web) -> list[Route]:
    by_path: dict[str, list[ApiRoute]] = {}
    for r in ROUTES:
        by_path.setdefault(r.path, []).append(r)
    out = []
    for path, rs in by_path.items():
        handlers = {r.method: _endpoint(web, r) for r in rs}

        def make(handlers: dict[str, Callable[[Request], Awaitable[Response]]]) -> Callable[..., Any]:
            async def dispatch(request: Request) -> Response:
                return await handlers[request.method](request)

            return dispatch

        out.append(Route(path, make(handlers), methods=list(handlers)))
    return out
