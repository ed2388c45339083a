"""What the state machine needs of a rule, whatever produced it (an ``alerts:`` entry or an SLO
burn-rate tier), and what a source observed for one instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config.rules import AlertRule


@dataclass(frozen=True)
class RuleSpec:
    name: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    for_: float = 0.0
    keep_firing_for: float = 0.0
    no_data: str = "ok"
    recover_below: float | None = None
    recover_above: float | None = None
    checks: tuple[str, ...] = ()  # checks it reads, for maintenance scope
    slo: str | None = None

    @classmethod
    def of(cls, name: str, rule: AlertRule) -> RuleSpec:
        cond = rule.condition
        checks = (cond.target,) if cond is not None and cond.source == "check" else ()
        return cls(name, rule.severity, dict(rule.labels), dict(rule.annotations), rule.for_, rule.keep_firing_for,
                   rule.no_data, rule.recover_below, rule.recover_above, checks)


@dataclass
class Observation:
    """One instance's reading: ``cond`` None means no data."""

    labels: dict[str, str]
    cond: bool | None
    value: float | None = None
    what: str = ""  # "check api-ready failing", for the reason text
    extra: dict[str, Any] = field(default_factory=dict)
    describe: Callable[[], str] | None = None  # builds `what` on demand

    @property
    def text(self) -> str:
        return self.describe() if self.describe is not None else self.what


def number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
