"""What a drill found: the report document (``opsbook.drill/1``) and what one step returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA = "opsbook.drill/1"


@dataclass
class TableCount:
    table: str
    expected: int
    actual: int | None
    expected_max_pk: str | None = None
    actual_max_pk: str | None = None

    @property
    def ok(self) -> bool:
        return self.actual == self.expected and self.actual_max_pk == self.expected_max_pk

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "ok": self.ok, "expected": self.expected, "actual": self.actual,
                "expected_max_pk": self.expected_max_pk, "actual_max_pk": self.actual_max_pk}


@dataclass
class Verification:
    name: str
    ok: bool
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "summary": self.summary, "detail": self.detail}


@dataclass
class DrillResult:
    drill: str
    backup: str
    backup_id: str = ""
    backup_created_at: str = ""
    location: str = ""
    source_kind: str = ""
    scratch: str = ""  # database name or file; never a DSN
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    phases_ms: dict[str, float] = field(default_factory=dict)
    rto_target_s: float | None = None
    tables: list[TableCount] = field(default_factory=list)
    checks: list[Verification] = field(default_factory=list)
    kept: bool = False
    error: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None  # cluster: drills: bin_dir, dir, port, kept

    @property
    def rto_s(self) -> float:
        return round(sum(self.phases_ms.values()) / 1000, 3)

    @property
    def rto_ok(self) -> bool:
        return self.rto_target_s is None or self.rto_s <= self.rto_target_s

    @property
    def ok(self) -> bool:
        return (self.error is None and bool(self.phases_ms.get("restore") is not None)
                and all(c.ok for c in self.checks) and self.rto_ok)

    def issues(self) -> list[str]:
        out = [f"{c.name}: {c.summary}" for c in self.checks if not c.ok]
        if not self.rto_ok:
            out.append(f"RTO {self.rto_s:.1f}s exceeds the target {self.rto_target_s:g}s")
        if self.error:
            out.append(str(self.error.get("message")))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "ok": self.ok, "drill": self.drill, "backup": self.backup,
            "backup_id": self.backup_id, "backup_created_at": self.backup_created_at,
            "location": self.location, "source_kind": self.source_kind, "scratch": self.scratch,
            "kept": self.kept, "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "phases_ms": self.phases_ms, "rto_s": self.rto_s, "rto_target_s": self.rto_target_s,
            "rto_ok": self.rto_ok, "tables": [t.to_dict() for t in self.tables],
            "checks": [c.to_dict() for c in self.checks], "issues": self.issues(), "error": self.error,
            **({"cluster": self.cluster} if self.cluster is not None else {}),
        }


@dataclass
class StepResult:
    """What one verification step found. ``stop``: skip the steps after it (cleanup still runs)."""

    checks: list[Verification] = field(default_factory=list)
    tables: list[TableCount] = field(default_factory=list)
    stop: bool = False
