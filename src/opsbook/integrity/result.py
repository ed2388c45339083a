"""What an integrity run found: data only. Rendering lives in ``render/integrity.py``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SCHEMA = "opsbook.integrity/1"
Status = Literal["pass", "warn", "fail", "error"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "error")


@dataclass
class CheckOutcome:
    """One check's verdict.

    ``sql`` is the statement that lists the violating rows with its values written inline
    (safely quoted) so an operator can paste it into psql / sqlite3; the engine itself
    always binds values as parameters.
    """

    name: str
    type: str
    table: str | None
    status: Status
    violations: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    sql: str = ""
    duration_ms: float = 0.0
    message: str = ""
    description: str = ""
    new_violations: int | None = None  # vs the previous run; None when there was none to compare
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "warn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "table": self.table,
            "status": self.status,
            "ok": self.ok,
            "violations": self.violations,
            "new_violations": self.new_violations,
            "samples": self.samples,
            "sql": self.sql,
            "duration_ms": round(self.duration_ms, 3),
            "message": self.message,
            "hint": self.hint,
            "description": self.description,
        }


@dataclass
class IntegrityResult:
    suite: str
    target: str  # what ran against, password-free: "postgres db", "sqlite ./app.db"
    dialect: str  # postgres | sqlite
    started_at: datetime
    finished_at: datetime
    checks: list[CheckOutcome] = field(default_factory=list)
    env: str | None = None
    previous_at: str | None = None  # finished_at of the run compared against
    queries: int = 0  # statements sent, samples included

    @property
    def ok(self) -> bool:
        """No check failed or errored (warnings allowed)."""
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(x.status for x in self.checks)
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def new_since_last_run(self) -> list[str] | None:
        """Checks with more violations than in the previous run; None without a previous run."""
        if self.previous_at is None:
            return None
        return [c.name for c in self.checks if c.new_violations]

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "suite": self.suite,
            "env": self.env,
            "target": self.target,
            "dialect": self.dialect,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "counts": self.counts,
            "violations": sum(c.violations for c in self.checks),
            "new_since_last_run": self.new_since_last_run,
            "previous_run_at": self.previous_at,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
            "queries": self.queries,
            "checks": [c.to_dict() for c in self.checks],
        }


def previous_violations(previous: dict[str, Any] | None) -> dict[str, int] | None:
    """Per-check violation counts of an earlier ``to_dict()`` (errored checks left out)."""
    if not previous or not isinstance(previous.get("checks"), list):
        return None
    out: dict[str, int] = {}
    for c in previous["checks"]:
        if isinstance(c, dict) and c.get("status") != "error" and isinstance(c.get("violations"), int):
            out[str(c.get("name"))] = c["violations"]
    return out
