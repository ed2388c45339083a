"""Shared pieces for the notify tests: alerts, a controlled clock, and a real HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opsbook.rules.model import AlertInstance
from opsbook.store import Store
from tests.support.helpers import serve_app

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def alert(name: str, state: str = "firing", severity: str = "page", at: datetime = T0, **labels: str) -> AlertInstance:
    return AlertInstance(
        rule=name, labels={"alertname": name, "severity": severity, **labels},
        annotations={"summary": f"{name} is broken", "runbook": "https://runbooks.example/" + name},
        state=state, active_since=at, fired_at=at if state != "pending" else None,  # type: ignore[arg-type]
        resolved_at=at if state == "resolved" else None, last_eval_at=at, reason=f"{name} failing")


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


@dataclass
class Recorder:
    """A receiver endpoint: records every request; fails with `fail` (a status) while set."""

    fail: int | None = None
    retry_after: str | None = None
    # accept the body but answer 500 (the answer is "lost"): the sender must retry, we dedupe
    lose_answer_once: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.attempts += 1
            if self.fail:
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return JSONResponse({"error": "down"}, status_code=self.fail, headers=headers)
            doc = json.loads(body) if body else None
            self.requests.append({"headers": dict(request.headers), "body": body, "json": doc,
                                  "path": request.url.path})
            if self.lose_answer_once:
                self.lose_answer_once = False
                return JSONResponse({"error": "oops"}, status_code=500)
        if isinstance(doc, dict) and "event_action" in doc:  # answer like PagerDuty Events v2
            return JSONResponse({"status": "success", "message": "Event processed",
                                 "dedup_key": doc.get("dedup_key")}, status_code=202)
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])


@contextmanager
def recorder() -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()
    with serve_app(rec.app()) as url:
        yield rec, url




@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()
