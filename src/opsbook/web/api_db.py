"""The database endpoints of /api/v1: a diagnostics report of a postgres resource (viewer), and
cancel/terminate of sessions (operator, audited through ``web.mutate`` with what was hit). The
request is the confirmation; ``dry_run`` shows what would be hit without touching anything."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request

from ..dbdiag import REPORTS
from ..dbdiag.base import Options
from ..durations import parse_duration
from ..errors import ApiError
from ..ops import db
from .auth import Principal, check_csrf
from .state import Web


class RemediateIn(BaseModel):
    reason: str = Field(min_length=1, description="why (recorded in the audit log)")
    pid: int | None = Field(default=None, description="one session")
    idle_in_transaction_longer_than: str | None = Field(
        default=None, description="or: every session idle in a transaction longer than this, e.g. 10m")
    force: bool = Field(default=False, description="also hit superuser, replication and other opsbook sessions")
    dry_run: bool = Field(default=False, description="only list what would be hit")


async def get_report(web: Web, request: Request) -> Any:
    name, which = request.path_params["resource"], request.path_params["report"]
    wanted = list(REPORTS) if which == "all" else [which]
    if which != "all" and which not in REPORTS:
        raise ApiError(404, f"no report {which!r}", hint=f"one of: all, {', '.join(REPORTS)}")
    res = db.resource(web.config(), name)
    return await db.acollect(res, name, wanted, Options(), web.now())


async def remediate(web: Web, request: Request) -> Any:
    from .api import _body

    name = request.path_params["resource"]
    action = request.url.path.rstrip("/").rsplit("/", 1)[1]  # one route per action
    body: RemediateIn = await _body(request, RemediateIn)
    res = db.resource(web.config(), name)
    idle = None
    if body.idle_in_transaction_longer_than is not None:
        try:
            idle = parse_duration(body.idle_in_transaction_longer_than)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
    detail: dict[str, Any] = {"reason": body.reason, "dry_run": body.dry_run}

    async def do(p: Principal) -> Any:
        check_csrf(p, request.headers.get("x-csrf-token"))
        plan = await db.aplan(res, name, action, pid=body.pid, idle_longer_than=idle, force=body.force)
        if not body.dry_run and plan.hits:
            await db.aexecute(res, plan)
        # web.mutate writes this dict into the audit row after do() returns: who, why, what was hit
        detail.update(db.audit_detail(plan, body.reason))
        return plan

    plan = await web.mutate(request, "operator", f"db.{action}", name, do, detail)
    return {**plan.to_dict(), "dry_run": body.dry_run,
            "outcome": "dry run" if body.dry_run else db.outcome(plan)}
