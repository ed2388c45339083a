"""The runbook endpoints of /api/v1 and what the dashboard's runbook forms share with them.

Reads (viewer): the runbooks with their lint findings, one runbook parsed, the runs, one run's
record, a running step's output so far. Acts (operator, audited through ``web.mutate``, CSRF for
cookie sessions): start a run or a dry-run, approve, reject, acknowledge, abort, resume. They
call the same ops.runbook functions as `opsbook runbook ...`; runs walk in a background thread
of this process (web/runbook_runner.py): the start answers 202 with the run's id at once.

After an approval or an acknowledgement the run continues by itself (as its runner, in the
background) unless it has secret parameters nobody gave again: those are never recorded, so
whoever resumes it types them (the page's Resume form, or ``params`` in the body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..config.secrets import REDACTED, redactor
from ..errors import ApiError, OpsbookError, UsageError
from ..ops import runbook as ops
from ..render.runbook import run_dict, to_json
from ..render.runbook_doc import runbook_doc
from ..runbooks.lint import from_error, lint
from ..runbooks.load import find, load_all_with_errors
from ..runbooks.model import Runbook
from .auth import Principal, check_csrf
from .runbook_runner import deadline_of, pool_of
from .state import Web

VERBS = ("approve", "reject", "ack", "abort", "resume")
OUTPUT_MAX = 64 * 1024  # characters of live output per /output call
Scalar = str | int | float | bool


class RunIn(BaseModel):
    params: dict[str, Scalar] = Field(default_factory=dict, description='runbook parameters, e.g. {"version": "1.4"}')
    env: str | None = Field(default=None, description="the environment; must be this server's (default: it)")
    dry_run: bool = Field(default=False, description="render every step, run only the read-only ones")
    incident: int | None = Field(default=None, description="put the run on this incident's timeline")


class ActIn(BaseModel):
    step: str | None = Field(default=None, description="approve: the step approved (409 if it waits on another)")
    item: str | None = Field(default=None, description="ack: the checklist item (its number or check-N)")
    reason: str = Field(default="", description="reject/abort: why (kept in the record)")
    params: dict[str, Scalar] = Field(default_factory=dict,
                                      description="resume (and the continuation after approve/ack): the run's "
                                                  "secret parameters, which are never recorded")
    yes: bool = Field(default=False, description="resume: confirm the confirm=true step the run waits on")
    force: bool = Field(default=False, description="resume even though the runbook's text changed")


def as_text(params: dict[str, Scalar]) -> dict[str, str]:
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in params.items()}


def shown_params(rb: Runbook, params: dict[str, str]) -> dict[str, str]:
    """Parameters as the audit log keeps them: a secret one's value never."""
    return {k: REDACTED if (p := rb.param(k)) is not None and p.secret else v for k, v in params.items()}


def runbook(web: Web, name: str) -> Runbook:
    try:
        return find(web.config(), name)
    except UsageError as e:
        if getattr(e, "file", None):  # it exists but does not parse: 400 with file:line
            raise
        raise ApiError(404, e.message, hint=e.hint or "GET /api/v1/runbooks lists them") from None


def run_record(web: Web, run_id: int) -> ops.Record:
    try:
        return ops.record(web.store, run_id)
    except UsageError:
        raise ApiError(404, f"no runbook run {run_id}", hint="GET /api/v1/runbook-runs lists them") from None


def _run_id(request: Request) -> int:
    raw = request.path_params["id"]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(404, f"no runbook run {raw!r}", hint="a run id is a number") from None


def _same_env(web: Web, env: str | None, what: str) -> None:
    mine = web.config().env
    if (env or None) != (mine or None):
        raise UsageError(f"{what} is in environment {env or '(none)'}; this server runs {mine or '(none)'}",
                         hint="use the opsbook serve of that environment, or `opsbook runbook ... --env`")


# -- shared with the dashboard's forms -----------------------------------------------------------


def start_run(web: Web, rb: Runbook, params: dict[str, str], operator: str, *, env: str | None = None,
              dry_run: bool = False, incident: int | None = None) -> int:
    """Start a run walking in the background; its id. Blocks briefly: call it in a thread."""
    cfg = web.config()
    if env is not None:
        _same_env(web, env, "the run asked for")
    now = web.now()
    return pool_of(web).start(rb.name, deadline_of(cfg, rb, now), lambda hooks: ops.run(
        web.store, cfg, rb, params, operator, environment=cfg.env, dry_run=dry_run, incident_id=incident,
        hooks=hooks, clock=web.now))


def act(web: Web, run_id: int, verb: str, operator: str, body: ActIn) -> tuple[ops.Record, str]:
    """One decision on a run, through ops.runbook; the record after it and a line saying what
    happens next. Blocks (the store, a short wait for a continuation): call it in a thread."""
    rec = run_record(web, run_id)
    if verb == "abort":
        return ops.abort(web.store, run_id, operator, reason=body.reason, clock=web.now), "aborted"
    _same_env(web, rec.run.environment, f"run {run_id}")
    rb, cfg, pool, params = runbook(web, rec.run.runbook), web.config(), pool_of(web), as_text(body.params)
    deadline = deadline_of(cfg, rb, web.now())
    if verb == "resume":
        pool.start(rb.name, deadline, lambda hooks: ops.resume(
            web.store, cfg, rb, run_id, operator, params=params, force=body.force, yes=body.yes, hooks=hooks,
            clock=web.now), run_id=run_id)
        return run_record(web, run_id), "resumed"
    if verb == "reject":  # its rollback runs: in the background like any walk
        pool.start(rb.name, deadline, lambda hooks: ops.reject(
            web.store, cfg, rb, run_id, operator, reason=body.reason, params=params, hooks=hooks, clock=web.now),
            run_id=run_id)
        return run_record(web, run_id), "rejected: its rollback runs"
    if verb == "approve":
        ops.approve(web.store, cfg, rb, run_id, operator, step=body.step, clock=web.now)
    else:
        ops.ack(web.store, rb, run_id, operator, item=body.item, clock=web.now)
    done = {"approve": "approved", "ack": "acknowledged"}[verb]
    missing = [p.name for p in rb.params if p.secret and p.name not in params]
    if missing:
        return run_record(web, run_id), (f"{done}; the run waits to be resumed with its secret parameters "
                                         f"({', '.join(missing)})")
    runner = rec.run.operator  # the run goes on as its runner's; the audit log and record say who decided
    try:
        pool.start(rb.name, deadline, lambda hooks: ops.resume(
            web.store, cfg, rb, run_id, runner, params=params, hooks=hooks, clock=web.now), run_id=run_id)
    except OpsbookError as e:
        return run_record(web, run_id), f"{done}; it did not continue: {redactor.text(e.message)}"
    return run_record(web, run_id), f"{done}; the run continues"


def run_json(web: Web, rec: ops.Record) -> dict[str, Any]:
    doc = to_json(rec.run, rec.steps, rec.approvals)
    live = pool_of(web).live(rec.run.id)
    doc["walking"] = ({"step": live.step_id, "deadline": live.deadline.isoformat()} if live is not None else None)
    return doc


# -- handlers ------------------------------------------------------------------------------------


async def list_runbooks(web: Web, request: Request) -> Any:
    def make() -> dict[str, Any]:
        from ..runbooks.steps.registry import STEPS

        cfg = web.config()
        books, broken = load_all_with_errors(cfg)
        last: dict[str, dict[str, Any]] = {}
        for r in ops.runs(web.store, limit=500, clock=web.now):
            last.setdefault(r.runbook, {"id": r.id, "status": r.status, "dry_run": r.dry_run,
                                        "started_at": r.started_at.isoformat()})
        out = []
        for rb in books.values():
            findings = [f.to_dict() for f in lint(rb, STEPS, cfg)]
            out.append({**runbook_doc(rb, full=False), "lint": findings,
                        "lint_status": "error" if any(f["level"] == "error" for f in findings)
                        else "warning" if findings else "ok", "last_run": last.get(rb.name)})
        errors = [{"name": n, **e.to_dict(), "lint": [from_error(e).to_dict()], "lint_status": "error"}
                  for n, e in broken.items()]
        return {"schema": "opsbook.api.runbooks/1", "runbooks": out, "errors": errors}

    return redactor.redact(await run_in_threadpool(make))


async def get_runbook(web: Web, request: Request) -> Any:
    from ..runbooks.steps.registry import STEPS

    rb = runbook(web, request.path_params["name"])
    return redactor.redact({"schema": "opsbook.api.runbook/1", **runbook_doc(rb),
                            "lint": [f.to_dict() for f in lint(rb, STEPS, web.config())]})


async def list_runbook_runs(web: Web, request: Request) -> Any:
    from .api import _int

    name = request.query_params.get("runbook") or None
    status = request.query_params.get("status") or None
    limit = _int(request, "limit", 50) or 50
    found = await run_in_threadpool(lambda: ops.runs(web.store, runbook=name, statuses=(status,) if status else None,
                                                     limit=limit, clock=web.now))
    return redactor.redact({"schema": "opsbook.api.runbook-runs/1", "runs": [run_dict(r) for r in found]})


async def get_runbook_run(web: Web, request: Request) -> Any:
    run_id = _run_id(request)
    return redactor.redact(run_json(web, await run_in_threadpool(run_record, web, run_id)))


def output_of(web: Web, run_id: int, step: int | None, after: int) -> dict[str, Any]:
    """A step's output from ``after``: the running step's live bytes so far (``done`` false;
    poll again with ``after=next``), or an ended step's recorded output, whole (``done`` true)."""
    rec = run_record(web, run_id)
    live = pool_of(web).live(run_id)
    step_id = step if step is not None else (live.step_id if live and live.step_id else
                                             (rec.steps[-1].id if rec.steps else None))
    doc: dict[str, Any] = {"schema": "opsbook.api.runbook-output/1", "run": run_id, "step": step_id,
                           "status": rec.run.status}
    buf = live.live.get(step_id) if live is not None and step_id is not None else None
    if buf is not None:
        start, piece, dropped = buf.since(after, OUTPUT_MAX)
        live_doc: dict[str, Any] = redactor.redact({**doc, "done": False, "offset": start, "next": start + len(piece),
                                                    "dropped": dropped, "text": piece.decode(errors="replace")})
        return live_doc
    row = next((s for s in rec.steps if s.id == step_id), None)
    if step_id is not None and row is None:
        raise ApiError(404, f"run {run_id} has no step {step_id}", hint=f"GET /api/v1/runbook-runs/{run_id}")
    text = row.output if row is not None and row.status != "running" else ""
    ended: dict[str, Any] = redactor.redact({**doc, "done": row is None or row.status != "running", "offset": 0,
                                             "next": len(text.encode()), "dropped": False, "text": text})
    return ended


async def get_output(web: Web, request: Request) -> Any:
    from .api import _int

    run_id = _run_id(request)
    step = _int(request, "step", None, 1, 2**62)
    after = _int(request, "after", 0, 0, 2**62) or 0
    return await run_in_threadpool(output_of, web, run_id, step, after)


async def run_runbook(web: Web, request: Request) -> Any:
    from .api import _body

    rb = runbook(web, request.path_params["name"])
    body: RunIn = await _body(request, RunIn)
    params = as_text(body.params)

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        return await run_in_threadpool(lambda: start_run(web, rb, params, p.name, env=body.env,
                                                         dry_run=body.dry_run, incident=body.incident))

    detail = {"dry_run": body.dry_run, "params": shown_params(rb, params), "incident": body.incident}
    run_id = await web.mutate(request, "operator", "runbook.dry_run" if body.dry_run else "runbook.run", rb.name,
                              do, detail)
    rec = await run_in_threadpool(run_record, web, run_id)
    return JSONResponse(redactor.redact({"schema": "opsbook.api.runbook-run-started/1", "run": run_id,
                                         "status": rec.run.status, "url": f"/runbook-runs/{run_id}",
                                         "record": f"/api/v1/runbook-runs/{run_id}"}), status_code=202)


def _verb(verb: str) -> Callable[[Web, Request], Any]:
    async def handler(web: Web, request: Request) -> Any:
        from .api import _body

        run_id = _run_id(request)
        await run_in_threadpool(run_record, web, run_id)  # 404 before the body is read
        body: ActIn = await _body(request, ActIn)

        async def do(p: Principal) -> Any:
            check_csrf(p, request.headers.get("x-csrf-token"))
            return await run_in_threadpool(act, web, run_id, verb, p.name, body)

        detail = {k: v for k, v in (("step", body.step), ("item", body.item), ("reason", body.reason)) if v}
        rec, note = await web.mutate(request, "operator", f"runbook.{verb}", str(run_id), do, detail or None)
        status = 202 if verb in ("resume", "reject") or note.endswith("continues") else 200
        return JSONResponse(redactor.redact({"schema": "opsbook.api.runbook-decision/1", "note": note,
                                             "run": run_json(web, rec)}), status_code=status)

    handler.__name__ = f"{verb}_runbook_run"
    return handler


HANDLERS = {verb: _verb(verb) for verb in VERBS}
