"""The result of one migration run, as data (rendering lives in ``render/migration.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .audit import AuditResult
from .load import TableLoad
from .plan import TablePlan
from .reconcile import ReconcileResult

SCHEMA = "opsbook.migration/1"


@dataclass
class MigrationReport:
    mode: str  # migrate | dry-run | reconcile-only
    source: dict[str, Any]
    target: str  # redacted DSN or resource name
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # passed | failed | refused | planned
    snapshot: str | None = None
    order: list[str] = field(default_factory=list)
    plans: list[TablePlan] = field(default_factory=list)
    audit: AuditResult | None = None
    loads: list[TableLoad] = field(default_factory=list)
    reconcile: ReconcileResult | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    notes: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "planned")

    @property
    def duration_s(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    @property
    def rows(self) -> int:
        return sum(tp.rows for tp in self.plans)

    def to_dict(self) -> dict[str, Any]:
        d = self.duration_s
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "status": self.status,
            "mode": self.mode,
            "source": self.source,
            "target": self.target,
            "snapshot": self.snapshot,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": round(d, 3),
            "rows": self.rows,
            "rows_per_s": round(self.rows / d) if d > 0 and self.mode == "migrate" else None,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "order": self.order,
            "plan": [tp.to_dict() for tp in self.plans],
            "audit": self.audit.to_dict() if self.audit else None,
            "tables": [t.to_dict() for t in self.loads],
            "reconcile": self.reconcile.to_dict() if self.reconcile else None,
            "notes": self.notes,
            "error": self.error,
        }
