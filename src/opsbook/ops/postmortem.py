"""A post-mortem draft for an incident: its record and derived times, its impact (components, the
checks that failed in its window with the assertion that failed, the error budget each SLO spent
in it), its timeline and its action items, plus the sections people write (root cause, what went
well, what went wrong, lessons). render/postmortem.py turns the document into Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..config.incidents import template_path
from ..config.load import Config
from ..errors import ConfigError
from ..rules.slo import Spent, spent_between
from ..store import Store, checks
from . import incident, incident_action, timeline

SCHEMA = "opsbook.postmortem/1"


@dataclass(frozen=True)
class FailedCheck:
    check: str
    env: str
    results: int
    bad: int
    failing: list[str]  # the assertions the newest failing result in the window failed

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "env": self.env, "results": self.results, "bad": self.bad,
                "failing_assertions": self.failing}


@dataclass(frozen=True)
class Postmortem:
    incident: incident.Incident
    timeline: timeline.Timeline
    actions: list[incident_action.Action]
    failed_checks: list[FailedCheck]
    budgets: list[Spent]
    required: bool
    due_at: datetime | None
    generated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        inc = self.incident.to_dict(with_events=False)
        r = self.incident.row
        end = r.resolved_at or r.closed_at
        return {
            "schema": SCHEMA, "generated_at": self.generated_at.isoformat(), "incident": inc,
            "duration": (end - r.detected_at).total_seconds() if end else None,
            "required": self.required, "due_at": self.due_at.isoformat() if self.due_at else None,
            "impact": {"components": r.components, "failed_checks": [c.to_dict() for c in self.failed_checks],
                       "slos": [b.to_dict() for b in self.budgets]},
            "timeline": self.timeline.to_dict(),
            "actions": [a.to_dict(self.generated_at.date()) for a in self.actions],
        }


def build(cfg: Config, store: Store, incident_id: int, now: datetime) -> Postmortem:
    inc = incident.show(store, incident_id)
    row = inc.row
    tl = timeline.for_incident(store, row, now)
    with store.read() as tx:
        failed = []
        for (name, env), (total, bad) in sorted(checks.totals_between(tx, tl.start, tl.end).items()):
            if bad:
                doc = checks.last_failure_between(tx, name, env, tl.start, tl.end)
                failed.append(FailedCheck(name, env, total, bad, timeline.failing_assertions(doc)))
    budgets = [spent_between(cfg, store, name, tl.start, tl.end) for name in cfg.model.slos]
    pol = cfg.model.incidents
    required = row.severity in pol.postmortem_required_for
    due = row.resolved_at + timedelta(seconds=pol.postmortem.due) if required and row.resolved_at else None
    return Postmortem(inc, tl, incident_action.listing(store, incident_id), failed, budgets, required, due, now)


def template_text(cfg: Config) -> str | None:
    """The configured template's text (checked at config load; read now, it may have gone since)."""
    tpl = cfg.model.incidents.postmortem.template
    if tpl is None:
        return None
    path: Path = template_path(tpl, cfg.base_dir)
    try:
        return path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the post-mortem template {path}: {e.strerror or e}",
                          path="incidents.postmortem.template") from None
