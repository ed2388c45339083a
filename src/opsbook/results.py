"""The result of one check run: data only. Rendering lives in ``render/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .config.assertions import Outcome

Status = Literal["pass", "warn", "fail", "error", "blocked"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "error", "blocked")
CHECK_SCHEMA = "opsbook.check/1"
RUN_SCHEMA = "opsbook.check-run/1"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CheckResult:
    name: str
    kind: str
    status: Status
    summary: str
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    hint: str = ""
    observations: dict[str, Any] = field(default_factory=dict)
    assertions: list[Outcome] = field(default_factory=list)
    error: dict[str, Any] | None = None  # OpsbookError.to_dict() when status == error
    blocked_by: str | None = None  # root-cause check name when status == blocked
    env: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "warn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "name": self.name,
            "kind": self.kind,
            "env": self.env,
            "status": self.status,
            "ok": self.ok,
            "summary": self.summary,
            "hint": self.hint,
            "duration_ms": round(self.duration_ms, 3),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "observations": self.observations,
            "assertions": [a.to_dict() for a in self.assertions],
            "error": self.error,
            "blocked_by": self.blocked_by,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            name=d["name"],
            kind=d["kind"],
            env=d.get("env"),
            status=d["status"],
            summary=d.get("summary", ""),
            hint=d.get("hint", ""),
            duration_ms=float(d.get("duration_ms", 0.0)),
            started_at=datetime.fromisoformat(d["started_at"]),
            finished_at=datetime.fromisoformat(d["finished_at"]),
            observations=d.get("observations") or {},
            assertions=[
                Outcome(
                    a["expr"], a["ok"], a.get("actual"), a.get("expected", ""),
                    a.get("severity", "fail"), a.get("message", ""),
                )
                for a in d.get("assertions") or []
            ],
            error=d.get("error"),
            blocked_by=d.get("blocked_by"),
            attempts=int(d.get("attempts", 1)),
        )


def overall_exit(results: list[CheckResult]) -> int:
    """0 when everything passed (warnings allowed), 1 when anything failed, errored or blocked."""
    return 0 if all(r.ok for r in results) else 1
