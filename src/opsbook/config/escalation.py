"""Config for escalation policies (``escalation:``): who is paged, and when, while an incident
stays unacknowledged. Owned by ops/escalation.py (docs/escalation.md).

A policy is a ladder of levels; each level waits ``wait`` (from the declaration, or from the
level before it) and then notifies the on-call person of some schedules, some people and some
receivers. After the last level the ladder starts again ``repeat`` times. Acknowledging the
incident (or mitigating, resolving, cancelling it) always stops it. Which policy an incident
gets: ``alerts.NAME.incident.escalation``, else ``incidents.escalation`` by severity, else its
``default`` entry, else none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ..durations import Duration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

DEFAULT = "default"  # the incidents.escalation key used for severities not listed


class Targets(Model):
    oncall: list[str] = Field(default_factory=list, description="schedules (oncall:) whose on-call person is paged")
    people: list[str] = Field(default_factory=list,
                              description="people (people:) paged through their contact receivers")
    receivers: list[str] = Field(default_factory=list, description="receivers (notify.receivers) notified directly")

    @model_validator(mode="after")
    def _some(self) -> Targets:
        if not (self.oncall or self.people or self.receivers):
            raise ValueError("a level notifies someone: list oncall:, people: or receivers:")
        return self


class Level(Model):
    wait: Duration = Field(default=0.0, description="how long after the declaration (or the previous level) "
                                                    "this level fires")
    notify: Targets = Field(description="who this level pages")


class Policy(Model):
    description: str = ""
    levels: list[Level] = Field(min_length=1, description="the ladder, first level first")
    repeat: int = Field(default=0, ge=0, le=100, description="times the whole ladder runs again after the "
                                                             "last level while still unacknowledged")

    @model_validator(mode="after")
    def _repeat_waits(self) -> Policy:
        if self.repeat and not any(level.wait for level in self.levels):
            raise ValueError("a repeating ladder needs a wait somewhere, or it pages everyone again at once")
        return self


def policy_for(cfg: ConfigBase, severity: str, override: str | None = None) -> str | None:
    """The policy an incident of ``severity`` gets (``override``: the alert rule's)."""
    if override:
        return override
    chosen = cfg.incidents.escalation
    return chosen.get(severity) or chosen.get(DEFAULT)


def cross_check_escalation(cfg: ConfigBase, err: ErrFn) -> None:
    """Levels name schedules, people and receivers that exist; incidents name policies that exist."""
    policies: dict[str, Policy] = cfg.escalation
    for pname, policy in policies.items():
        for li, level in enumerate(policy.levels):
            base = ("escalation", pname, "levels", li, "notify")
            for i, s in enumerate(level.notify.oncall):
                if s not in cfg.oncall:
                    msg, hint = missing("schedule", s, cfg.oncall, "schedules (oncall:)")
                    err((*base, "oncall", i), msg, hint)
            for i, p in enumerate(level.notify.people):
                if p not in cfg.people:
                    msg, hint = missing("person", p, cfg.people, "people")
                    err((*base, "people", i), msg, f"define them under people:; {hint}")
            for i, r in enumerate(level.notify.receivers):
                if r not in cfg.notify.receivers:
                    msg, hint = missing("receiver", r, cfg.notify.receivers)
                    err((*base, "receivers", i), msg, f"define it under notify.receivers:; {hint}")
    severities = [*cfg.incidents.severity_names, DEFAULT]
    for key, pname in cfg.incidents.escalation.items():
        if key not in severities:
            err(("incidents", "escalation", key), *missing("severity", key, severities,
                                                           "severities (incidents.severities, or default)"))
        if pname not in policies:
            err(("incidents", "escalation", key), *missing("escalation policy", pname, policies,
                                                           "policies (escalation:)"))
    for alert, rule in cfg.alerts.items():
        auto = rule.incident
        if auto is not None and auto.escalation is not None and auto.escalation not in policies:
            err(("alerts", alert, "incident", "escalation"), *missing("escalation policy", auto.escalation,
                                                                       policies, "policies (escalation:)"))
