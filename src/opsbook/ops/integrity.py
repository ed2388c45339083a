"""``integrity run``, by hand or on schedule: run a suite, compare with its last run, record it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.load import Config
from ..errors import OpsbookError
from ..results import utcnow
from .record import Recorder, worst

if TYPE_CHECKING:
    from ..integrity import IntegrityResult
    from ..store import Store

KIND = "integrity"
SCHEMA = "opsbook.integrity/1"


@dataclass
class IntegrityRun:
    name: str
    result: IntegrityResult
    doc: dict[str, Any]
    status: str  # the worst check's: error > fail > warn > pass

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    def to_dict(self) -> dict[str, Any]:
        """``opsbook integrity run --json``."""
        return self.doc

    def unit_dict(self) -> dict[str, Any]:
        return {**self.doc, "kind": KIND, "name": self.name, "ok": self.ok, "status": self.status}


def previous_run(store: Store, env: str | None, name: str, target: str) -> dict[str, Any] | None:
    """The last recorded run of this suite against this target, in this environment."""
    for row in store.runs(KIND, limit=1000, name=name):
        detail = row.get("detail")
        if (row.get("env", "") == (env or "") and isinstance(detail, dict)
                and isinstance(detail.get("checks"), list) and detail.get("target") == target):
            return detail
    return None


def run(cfg: Config, name: str, rec: Recorder, *, dsn: str | None = None, sqlite_path: str | None = None,
        resource: str | None = None, samples: int | None = None, started: datetime | None = None) -> IntegrityRun:
    """Run the suite against its target (or ``dsn``/``sqlite_path``/``resource``), comparing with
    the last recorded run against the same target; record it (one that raises as an ``error`` run)."""
    from ..integrity import run_suite
    from ..integrity.engine import resolve_target, suite_of

    suite = suite_of(cfg, name)
    target = resolve_target(cfg, name, suite, dsn, sqlite_path, resource)
    previous = rec.read(lambda store: previous_run(store, cfg.env, name, target.label),
                        "no history to compare with: {reason}", tolerate=True)
    started = started or utcnow()
    try:
        result = asyncio.run(run_suite(cfg, name, dsn=dsn, sqlite_path=sqlite_path, previous=previous,
                                       resource=resource, samples=samples))
    except OpsbookError as e:
        rec.record(KIND, name, ok=False, detail={"schema": SCHEMA, "suite": name, "target": target.label,
                                                  "ok": False, "error": e.to_dict()},
                   started_at=started, status="error")
        raise
    status = worst(c.status for c in result.checks)
    doc = result.to_dict()
    rec.record(KIND, name, ok=result.ok, detail=doc, started_at=result.started_at, status=status)
    return IntegrityRun(name, result, doc, status)
