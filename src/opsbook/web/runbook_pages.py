"""The dashboard's runbook pages: /runbooks (every runbook, its lint status and last run, the
recent runs), /runbooks/{name} (the document as it reads: prose as Markdown, each step with its
kind and attributes), /runbook-runs/{id} (a run: each step's rendered command, status, exit code
and output; the running step's output live). Operators get plain HTML forms: run or dry-run with
the front matter's parameters (a secret one is a password field, never filled in or echoed), and
approve, reject, acknowledge, abort, resume on a run. The forms go through the same functions as
the API (web/api_runbooks.py), audited through ``web.mutate``; a refusal from the run's state (the
runner approving, a held lock, bad parameters) comes back as a flash message, a missing role or
CSRF token as 403.

A run that is running or waiting is refreshed in place every 2 seconds by htmx (vendored); the
page works without JavaScript (reload it). Markdown is rendered with raw HTML escaped, not passed
through: a runbook cannot put a script on the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..config.secrets import redactor
from ..errors import ApiError, OpsbookError
from ..ops import runbook as ops
from ..render.runbook import MARK, run_dict, step_dict
from ..runbooks.model import Checklist, Prose, Runbook, Step
from . import api_runbooks as api
from .auth import Principal, check_csrf
from .envelope import flash_error
from .runbook_runner import pool_of
from .state import Web

RECENT = 30  # runs listed on /runbooks and on a runbook's page
LIVE = ("running", "waiting")
_MD = MarkdownIt("commonmark", {"html": False})  # raw HTML is escaped, javascript: links refused


def markdown(text: str) -> Markup:
    return Markup(_MD.render(redactor.text(text)))  # markdown-it escapes: html is off


def items_of(items: tuple[Any, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in items:
        if isinstance(i, Prose):
            out.append({"type": "prose", "html": markdown(i.text)})
        elif isinstance(i, Checklist):
            out.append({"type": "checklist", "name": i.name, "text": i.text})
        elif isinstance(i, Step):
            out.append({"type": "step", "name": i.name, "kind": i.kind, "attrs": dict(i.attrs), "body": i.body,
                        "mutates": i.mutates, "line": i.line})
    return out


def params_form(rb: Runbook) -> list[dict[str, Any]]:
    """The run form's fields from the front matter (a secret's default is never shown)."""
    return [{"name": p.name, "type": p.type, "choices": list(p.choices), "required": p.required,
             "secret": p.secret, "description": p.description,
             "default": "" if p.secret or p.default is None else str(p.default)} for p in rb.params]


def form_params(form: FormData) -> dict[str, str]:
    """``param.NAME`` fields; an empty one is left out (its default applies)."""
    return {k[6:]: str(v) for k, v in form.items() if k.startswith("param.") and str(v) != ""}


def routes(web: Web) -> list[Route]:
    async def list_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        doc = await api.list_runbooks(web, request)
        books = await run_in_threadpool(lambda: {n: web_book(web, n) for n in
                                                 (b["name"] for b in doc["runbooks"])})
        runs = await run_in_threadpool(lambda: ops.runs(web.store, limit=RECENT, clock=web.now))
        return web.render(request, "runbooks.html", principal=p, runbooks=doc["runbooks"], broken=doc["errors"],
                          forms={n: params_form(rb) for n, rb in books.items() if rb is not None},
                          runs=redactor.redact([run_dict(r) for r in runs]),
                          done=request.query_params.get("done"), error=request.query_params.get("error"))

    async def runbook_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        rb = api.runbook(web, request.path_params["name"])
        doc = await api.get_runbook(web, request)
        runs = await run_in_threadpool(lambda: ops.runs(web.store, runbook=rb.name, limit=RECENT, clock=web.now))
        return web.render(request, "runbook.html", principal=p, rb=doc, items=items_of(rb.items),
                          rollback=items_of(rb.rollback), form=params_form(rb),
                          runs=redactor.redact([run_dict(r) for r in runs]),
                          done=request.query_params.get("done"), error=request.query_params.get("error"))

    async def run_page(request: Request) -> Response:
        p = web.require(request, "viewer")
        run_id = api._run_id(request)

        def gather() -> dict[str, Any]:
            rec = api.run_record(web, run_id)
            live = pool_of(web).live(run_id)
            steps = [step_dict(s) for s in rec.steps]
            if live is not None:
                for s in steps:
                    buf = live.live.get(s["id"])
                    if buf is not None:
                        s["live"] = buf.since(0, api.OUTPUT_MAX)[1].decode(errors="replace")
            try:
                rb: Runbook | None = api.runbook(web, rec.run.runbook)
            except OpsbookError:
                rb = None
            secrets = [f for f in params_form(rb) if f["secret"]] if rb is not None else []
            return {"run": api.run_json(web, rec), "steps": steps, "mark": MARK, "secret_fields": secrets,
                    "walking": live is not None}

        got = redactor.redact(await run_in_threadpool(gather))
        return web.render(request, "runbook_run.html", principal=p, live=got["run"]["status"] in LIVE,
                          done=request.query_params.get("done"), error=request.query_params.get("error"), **got)

    async def run_form(request: Request) -> Response:
        name = request.path_params["name"]
        web.authenticated(request, "operator")  # before the name is looked up or the form read
        rb = api.runbook(web, name)
        form = await request.form()
        dry = form.get("mode") == "dry_run"
        params = form_params(form)
        incident = str(form.get("incident", "")).strip()

        async def do(p: Principal) -> Any:
            check_csrf(p, str(form.get("csrf", "")))
            if incident and not incident.isdigit():
                raise ApiError(400, f"an incident id is a number, got {incident!r}")
            inc = int(incident) if incident else None
            return await run_in_threadpool(lambda: api.start_run(web, rb, params, p.name, dry_run=dry,
                                                                 incident=inc))

        detail = {"dry_run": dry, "params": api.shown_params(rb, params)}
        try:
            run_id = await web.mutate(request, "operator", "runbook.dry_run" if dry else "runbook.run", rb.name,
                                      do, detail)
        except OpsbookError as e:
            return flash_error(e, f"/runbooks/{quote(name)}")
        return RedirectResponse(f"/runbook-runs/{run_id}", status_code=303)

    async def act(request: Request, verb: str) -> Response:
        run_id = api._run_id(request)
        web.authenticated(request, "operator")
        form = await request.form()
        back = f"/runbook-runs/{run_id}"
        body = api.ActIn(step=str(form.get("step", "")) or None, item=str(form.get("item", "")) or None,
                         reason=str(form.get("reason", "")), params=dict(form_params(form)),
                         yes=form.get("yes") == "true", force=form.get("force") == "true")

        async def do(p: Principal) -> Any:
            check_csrf(p, str(form.get("csrf", "")))
            return await run_in_threadpool(api.act, web, run_id, verb, p.name, body)

        detail = {k: v for k, v in (("step", body.step), ("item", body.item), ("reason", body.reason)) if v}
        try:
            _, note = await web.mutate(request, "operator", f"runbook.{verb}", str(run_id), do, detail or None)
        except OpsbookError as e:
            return flash_error(e, back)
        return RedirectResponse(f"{back}?done={quote(note)}", status_code=303)

    def action(verb: str) -> Any:
        async def handler(request: Request) -> Response:
            return await act(request, verb)
        return handler

    return [
        Route("/runbooks", list_page, methods=["GET"]),
        Route("/runbooks/{name}", runbook_page, methods=["GET"]),
        Route("/runbooks/{name}/run", run_form, methods=["POST"]),
        Route("/runbook-runs/{id}", run_page, methods=["GET"]),
        *[Route(f"/runbook-runs/{{id}}/{verb}", action(verb), methods=["POST"]) for verb in api.VERBS],
    ]


def web_book(web: Web, name: str) -> Runbook | None:
    try:
        return api.runbook(web, name)
    except OpsbookError:
        return None
