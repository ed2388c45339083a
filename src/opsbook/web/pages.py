"""The dashboard: server-rendered pages and plain HTML forms (no JavaScript needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..config.runbooks import runbook_ref
from ..config.secrets import redactor
from ..durations import parse_duration
from ..errors import ApiError, OpsbookError
from ..notify import acks, groups, silences
from ..rules import engine, heartbeats, slo
from ..store import rollup
from . import audit, charts, data, incident_pages, release_pages, rollout_pages, runbook_pages
from .auth import Principal, check_csrf
from .data import as_dict
from .overview import body as overview_body
from .state import Cached, Web

RANGES = {"24h": (timedelta(hours=24), "minute"), "7d": (timedelta(days=7), "hour"),
          "30d": (timedelta(days=30), "hour"), "90d": (timedelta(days=90), "day")}
_BAD = ("fail", "error", "blocked")


def routes(web: Web) -> list[Route]:
    def viewer(request: Request) -> Principal:
        return web.require(request, "viewer")

    async def overview(request: Request) -> Response:
        p = viewer(request)
        only = "failing" if request.query_params.get("status") == "failing" else None
        cfg = web.config()

        def body() -> Cached:
            rows = data.check_rows(cfg, web.store, web.now())
            if only == "failing":
                rows = [r for r in rows if r.status in _BAD]
            return overview_body(rows, only, web.now())

        # open incidents: one live store read, outside the cached body (a new one shows at once)
        incidents = redactor.redact(await run_in_threadpool(incident_pages.open_rows, web))
        return web.render(request, "overview.html", principal=p, incidents=incidents,
                          body=await web.cached(cfg, ("overview", only), body))

    async def check_page(request: Request) -> Response:
        p = viewer(request)
        cfg = web.config()
        name = request.path_params["name"]
        if name not in cfg.checks:
            raise ApiError(404, f"no check named {name!r}")
        env = request.query_params.get("env", cfg.env or "")
        rng = request.query_params.get("range", "24h")
        span, level = RANGES.get(rng, RANGES["24h"])

        def gather() -> dict[str, Any]:  # store reads and charts: in a worker thread, always live
            now = web.now()
            wms = rollup.watermarks(web.store)
            points = rollup.series(web.store, name, env, now - span, level, wms)
            latency = charts.line_chart(
                {"average": [(t, a.avg_ms) for t, a in points],
                 "p95 (est.)": [(t, a.quantile_ms(0.95)) for t, a in points]},
                title=f"latency of {name}, last {rng}", markers=release_pages.markers(web, now - span, now))
            days = rollup.series(web.store, name, env, now - timedelta(days=29), "day", wms)
            by_day = dict(days)
            strip = charts.uptime_strip([
                ((d := rollup.floor(now, "day") - timedelta(days=29 - i)).date().isoformat(),
                 by_day[d].uptime if d in by_day else None) for i in range(30)])
            row = next((r for r in data.check_rows(cfg, web.store, now) if r.name == name and r.env == env), None)
            failure = data.last_failure(web.store, name, env)
            return {"row": row, "latency": latency, "strip": strip, "failure": failure,
                    "history": data.history(web.store, name, env, limit=50),
                    "excerpt": data.excerpt(failure.observations) if failure else ""}

        return web.render(request, "check.html", principal=p, name=name, env=env, rng=rng, ranges=list(RANGES),
                          check=cfg.checks[name], done=request.query_params.get("done"),
                          error=request.query_params.get("error"), **await run_in_threadpool(gather))

    async def form_action(request: Request, action: str, target: str, back: str,
                          do: Any, detail: dict[str, Any] | None = None) -> Response:
        web.authenticated(request, "operator")  # before the form is read
        form = await request.form()

        async def run(p: Principal) -> Any:
            check_csrf(p, str(form.get("csrf", "")))
            return await do(p, form)

        try:
            await web.mutate(request, "operator", action, target, run, detail)
        except OpsbookError as e:
            if getattr(e, "status", 0) == 401:
                raise
            sep = "&" if "?" in back else "?"
            return RedirectResponse(f"{back}{sep}error={quote(redactor.text(e.message))}", status_code=303)
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}done={quote(action)}", status_code=303)

    async def run_check(request: Request) -> Response:
        name = request.path_params["name"]
        web.authenticated(request, "operator")  # before the name is looked up: no enumeration
        if name not in web.config().checks:
            raise ApiError(404, f"no check named {name!r}")

        async def do(p: Principal, form: Any) -> Any:
            if web.ctx.run_now is None:
                raise ApiError(503, "this server has no scheduler: it cannot run anything now")
            return await web.ctx.run_now("check", name)

        return await form_action(request, "check.run", name, f"/checks/{quote(name)}", do)

    async def backups_page(request: Request) -> Response:
        p = viewer(request)
        items = data.backups(web.config(), web.store, web.now())
        return web.render(request, "backups.html", principal=p, backups=items)

    async def drills_page(request: Request) -> Response:
        p = viewer(request)
        items = data.drills(web.config(), web.store)
        for d in items:
            done = [r for r in reversed(d["runs"]) if (r["detail"] or {}).get("rto_s") is not None]
            d["rto_chart"] = charts.line_chart(
                {"RTO": [(rollup.floor(_ts(r["started_at"]), "minute"), r["detail"]["rto_s"]) for r in done]},
                title=f"RTO of drill {d['name']}", unit="s", target=d["rto_target_s"], target_label="target")
            last = next((r for r in d["runs"] if (r["detail"] or {}).get("phases_ms")), None)
            d["phases_chart"] = charts.hbars(
                [(k, v / 1000) for k, v in (last["detail"]["phases_ms"].items() if last else [])],
                title=f"phases of the last drill of {d['name']}") if last else None
        return web.render(request, "drills.html", principal=p, drills=items)

    async def slos_page(request: Request) -> Response:
        p = viewer(request)
        slos = as_dict(slo.status(web.config(), web.store, web.now()))
        for s in slos:
            # the burn chart: each tier's current burn rate over its long and short window
            s["tiers_bars"] = [(f"{t['tier']} {w}", t[w]["burn_rate"] or 0.0)
                               for t in s.get("tiers", []) for w in ("long", "short")]
        return web.render(request, "slos.html", principal=p, slos=redactor.redact(slos))

    async def alerts_page(request: Request) -> Response:
        p = viewer(request)
        now = web.now()
        alerts = [a for a in as_dict(engine.current_alerts(web.store)) if a["state"] in ("pending", "firing")]
        for a in alerts:  # a runbook: annotation naming a runbook links its page and shows the commands
            a["runbook_name"] = runbook_ref((a.get("annotations") or {}).get("runbook"))
        return web.render(
            request, "alerts.html", principal=p, alerts=redactor.redact(alerts),
            groups=redactor.redact(as_dict(groups.list_groups(web.store))),
            silences=redactor.redact(as_dict(silences.list_active(web.store, now))),
            heartbeats=redactor.redact(as_dict(heartbeats.status(web.config(), web.store, now))),
            done=request.query_params.get("done"), error=request.query_params.get("error"))

    async def ack(request: Request) -> Response:
        group = request.path_params["group"]

        async def do(p: Principal, form: Any) -> Any:
            return acks.acknowledge(web.store, group, p.name, web.now(), comment=str(form.get("comment", "")))

        return await form_action(request, "alert.ack", group, "/alerts", do)

    async def silence(request: Request) -> Response:
        web.authenticated(request, "operator")  # before the form is read
        form = await request.form()
        matchers = [m.strip() for m in str(form.get("matchers", "")).split(",") if m.strip()]

        async def do(p: Principal, form: Any) -> Any:
            if not matchers:
                raise ApiError(422, "a silence needs at least one matcher, e.g. alertname=ApiDown")
            comment = str(form.get("comment", "")).strip()
            if not comment:
                raise ApiError(422, "say why: a silence needs a comment")
            try:
                seconds = parse_duration(str(form.get("duration", "1h")))
            except ValueError as e:
                raise ApiError(422, str(e)) from None
            now = web.now()
            return silences.add(web.store, matchers, p.name, comment, now, now + timedelta(seconds=seconds), now)

        return await form_action(request, "silence.add", ",".join(matchers), "/alerts", do,
                                 {"comment": str(form.get("comment", ""))})

    async def expire(request: Request) -> Response:
        sid = request.path_params["id"]

        async def do(p: Principal, form: Any) -> Any:
            return silences.expire(web.store, sid, web.now(), p.name)

        return await form_action(request, "silence.expire", sid, "/alerts", do)

    async def audit_page(request: Request) -> Response:
        p = web.require(request, "admin")
        return web.render(request, "audit.html", principal=p, entries=audit.recent(web.store, 200))

    return [
        Route("/", overview, methods=["GET"]),
        Route("/checks/{name}", check_page, methods=["GET"]),
        Route("/checks/{name}/run", run_check, methods=["POST"]),
        Route("/backups", backups_page, methods=["GET"]),
        Route("/drills", drills_page, methods=["GET"]),
        Route("/slos", slos_page, methods=["GET"]),
        Route("/alerts", alerts_page, methods=["GET"]),
        Route("/alerts/{group}/ack", ack, methods=["POST"]),
        Route("/silences", silence, methods=["POST"]),
        Route("/silences/{id}/expire", expire, methods=["POST"]),
        Route("/audit", audit_page, methods=["GET"]),
        *incident_pages.routes(web),
        *runbook_pages.routes(web),
        *release_pages.routes(web),
        *rollout_pages.routes(web),
    ]


def _ts(v: str) -> Any:
    from ..store.db import parse_ts

    return parse_ts(v)
