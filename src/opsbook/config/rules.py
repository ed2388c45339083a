"""Config for alert rules, SLOs, heartbeats and maintenance windows (``alerts:``, ``slos:``,
``heartbeats:``, ``maintenance:``). Owned by the rules layer (src/opsbook/rules/)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..durations import Duration, PositiveDuration, parse_duration
from ..errors import ConditionError
from .conditions import Condition, parse_condition
from .fields import Cron, TimeZone
from .incidents import AlertIncident, SloIncident
from .references import missing
from .resources import Model, Secret

if TYPE_CHECKING:
    from .models import ConfigBase

ErrFn = Callable[..., None]
Severity = Literal["page", "ticket", "warning", "info"]
SLO_WINDOWS = ("30d", "28d", "7d", "calendar_month")


def percent(v: Any) -> float:
    """``99.9``, ``"99.9%"`` or ``0.999`` -> 0.999 (a ratio)."""
    if isinstance(v, str):
        s = v.strip()
        try:
            f = float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(f"{v!r} is not a percentage; write it like 99.9%") from None
        if s.endswith("%"):
            return round(f, 12)
        v = f
    f = float(v)
    return round(f / 100 if f > 1 else f, 12)  # 99.9 / 100 is 0.9990000000000001 in binary


class PrometheusQuery(Model):
    resource: str = Field(description="a prometheus resource")
    query: str = Field(description="an instant PromQL query; each series in the result is one alert instance")


class AlertRule(Model):
    description: str = ""
    when: str | None = Field(default=None, description="a condition: check/job/heartbeat ... (see docs/alerts.md)")
    prometheus: PrometheusQuery | None = None
    above: float | None = Field(default=None, description="prometheus: fires when the value is above this")
    below: float | None = Field(default=None, description="prometheus: fires when the value is below this")
    recover_below: float | None = Field(default=None, description="once active, stays active until below this")
    recover_above: float | None = Field(default=None, description="once active, stays active until above this")
    for_: Duration = Field(default=0.0, alias="for", description="how long the condition holds before firing")
    keep_firing_for: Duration = Field(default=0.0, description="keep firing this long after the condition clears")
    no_data: Literal["alert", "ok", "keep_last"] = "ok"
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, runbook, ...")
    incident: AlertIncident | None = Field(default=None, description="declare an incident when this fires")

    @field_validator("when")
    @classmethod
    def _when(cls, v: str | None) -> str | None:
        if v is not None:
            parse_condition(v)  # ConditionError is a ValueError: pydantic names the key
        return v

    @model_validator(mode="after")
    def _one_source(self) -> AlertRule:
        if (self.when is None) == (self.prometheus is None):
            raise ValueError("an alert has when: (check/job/heartbeat condition) or prometheus:, exactly one")
        if self.when is not None and (self.above is not None or self.below is not None):
            raise ValueError("above:/below: go with prometheus:; a when: condition has its own comparison")
        if self.above is not None and self.below is not None:
            raise ValueError("give above: or below:, not both")
        if self.recover_below is not None and self.recover_above is not None:
            raise ValueError("give recover_below: or recover_above:, not both")
        return self

    @property
    def condition(self) -> Condition | None:
        return parse_condition(self.when) if self.when is not None else None


class JobRef(Model):
    kind: str = Field(description="the run kind: backup, drill, integrity, smoke, ...")
    name: str


class PrometheusSli(Model):
    resource: str
    total: str = Field(description="a counter selector/expression counting all events")
    good: str | None = Field(default=None, description="a counter expression counting good events")
    bad: str | None = Field(default=None, description="a counter expression counting bad events (instead of good)")

    @model_validator(mode="after")
    def _good_or_bad(self) -> PrometheusSli:
        if (self.good is None) == (self.bad is None):
            raise ValueError("a prometheus SLI has good: or bad:, exactly one, plus total:")
        return self


class Slo(Model):
    description: str = ""
    objective: float = Field(description="the target, e.g. 99.9% (or 0.999)")
    window: str = Field(default="30d", description="30d, 28d, 7d or calendar_month")
    check: str | None = Field(default=None, description="SLI: each result of this check is one event")
    faster_than: PositiveDuration | None = Field(default=None, description="check SLI: a good event is also this fast")
    prometheus: PrometheusSli | None = None
    job: JobRef | None = Field(default=None, description="SLI: each run of this job is one event")
    min_events: int = Field(default=1, ge=1, description="below this many events a burn alert does not fire")
    freeze_at: float | None = Field(default=None, description="budget consumed at which `gate budget` refuses")
    burn_alerts: bool = Field(default=True, description="evaluate the multiwindow burn-rate alerts")
    incident: SloIncident | None = Field(default=None, description="a page-tier burn declares an incident")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _sli_block(cls, data: Any) -> Any:
        # `sli: {check: api-live}` (the form in PRODUCT.md's sketch) is the same as `check: api-live`
        if isinstance(data, dict) and isinstance(data.get("sli"), dict):
            data = {**{k: v for k, v in data.items() if k != "sli"}, **data["sli"]}
        return data

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, v: Any) -> float:
        f = percent(v)
        if not 0 < f < 1:
            raise ValueError("objective is between 0% and 100% (exclusive), e.g. 99.9%")
        return f

    @field_validator("freeze_at", mode="before")
    @classmethod
    def _freeze(cls, v: Any) -> float | None:
        return None if v is None else percent(v)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        if v not in SLO_WINDOWS:
            raise ValueError(f"window is one of {', '.join(SLO_WINDOWS)}")
        return v

    @model_validator(mode="after")
    def _one_sli(self) -> Slo:
        if sum(x is not None for x in (self.check, self.prometheus, self.job)) != 1:
            raise ValueError("an SLO has one SLI: check:, prometheus: or job:")
        if self.faster_than is not None and self.check is None:
            raise ValueError("faster_than: applies to a check: SLI")
        return self

    @property
    def window_seconds(self) -> float:
        return 30 * 86400.0 if self.window == "calendar_month" else parse_duration(self.window)


class Heartbeat(Model):
    description: str = ""
    schedule: Cron = Field(default=None, description="cron: when a success ping is due")
    every: PositiveDuration | None = Field(default=None, description="a success ping is due this often")
    grace: PositiveDuration = Field(default=60.0, description="how late a ping may be before the heartbeat is down")
    timezone: TimeZone = "UTC"
    labels: dict[str, str] = Field(default_factory=dict)
    token: Secret | None = Field(default=None, description="pings must carry it (Bearer or ?key=); "
                                 "write it as {env: NAME} or {file: PATH}")

    @model_validator(mode="after")
    def _one(self) -> Heartbeat:
        if (self.schedule is None) == (self.every is None):
            raise ValueError("a heartbeat has schedule: (cron) or every: (a duration), exactly one")
        return self


class MaintenanceWindow(Model):
    name: str
    start: datetime | None = Field(default=None, description="a one-off window: start and end (ISO 8601)")
    end: datetime | None = None
    schedule: Cron = Field(default=None, description="a recurring window: cron for when it starts")
    duration: PositiveDuration | None = Field(default=None, description="a recurring window's length")
    timezone: TimeZone = "UTC"
    checks: list[str] = Field(default_factory=list, description="scope: alerts and SLOs reading these checks")
    alerts: list[str] = Field(default_factory=list, description="scope: these alert rules (globs allowed)")
    slos: list[str] = Field(default_factory=list, description="scope: these SLOs")
    match: dict[str, str] = Field(default_factory=dict, description="scope: alerts whose labels match")
    notice: str = Field(default="", description="public text for the status page")
    freeze: bool = Field(default=False, description="a deploy freeze: `gate deploy` refuses while it is on")

    @model_validator(mode="after")
    def _when(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        recurring = self.schedule is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError("a maintenance window has start:+end: or schedule:+duration:")
        if one_off and (self.start is None or self.end is None):
            raise ValueError("a one-off maintenance window needs start: and end:")
        if recurring and (self.schedule is None or not self.duration):
            raise ValueError("a recurring maintenance window needs schedule: and duration:")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start: needs a timezone, e.g. 2025-06-01T22:00:00Z")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("end: needs a timezone, e.g. 2025-06-01T23:00:00Z")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end: is after start:")
        return self

    @property
    def freeze_only(self) -> bool:
        """A deploy freeze and nothing else: not maintenance the public status page announces."""
        return self.freeze and not (self.checks or self.alerts or self.slos or self.match)

    @property
    def everything(self) -> bool:
        # a freeze with no scope freezes deploys only: it must not quiet every alert
        return not (self.freeze or self.checks or self.alerts or self.slos or self.match)


def cross_check_rules(cfg: ConfigBase, err: ErrFn) -> None:
    """References from alerts/slos to checks, jobs, resources and heartbeats."""
    checks = getattr(cfg, "checks", {})

    def prom(path: tuple[str | int, ...], resource: str) -> None:
        res = cfg.resources.get(resource)
        if res is None:
            msg, hint = missing("resource", resource, cfg.resources)
            err(path, msg, f"{hint}; add one: resources: {{{resource}: {{kind: prometheus, url: http://127.0.0.1:9090}}}}")
        elif res.kind != "prometheus":
            err(path, f"resource {resource!r} is a {res.kind} resource, not prometheus")

    for name, rule in cfg.alerts.items():
        if rule.prometheus is not None:
            prom(("alerts", name, "prometheus", "resource"), rule.prometheus.resource)
        cond = rule.condition
        if cond is None:
            continue
        if cond.source == "check" and cond.target not in checks:
            err(("alerts", name, "when"), *missing("check", cond.target, checks))
        if cond.source == "heartbeat" and cond.target not in cfg.heartbeats:
            err(("alerts", name, "when"), *missing("heartbeat", cond.target, cfg.heartbeats))
        if cond.source == "secret" and cond.target != "*" and cond.target not in cfg.secrets:
            err(("alerts", name, "when"), *missing("secret", cond.target, cfg.secrets, "secrets (secrets:)"))
    for name, slo in cfg.slos.items():
        if slo.check is not None and slo.check not in checks:
            err(("slos", name, "check"), *missing("check", slo.check, checks))
        if slo.prometheus is not None:
            prom(("slos", name, "prometheus", "resource"), slo.prometheus.resource)
    for i, win in enumerate(cfg.maintenance):
        for j, c in enumerate(win.checks):
            if c not in checks:
                err(("maintenance", i, "checks", j), *missing("check", c, checks))
        for j, s in enumerate(win.slos):
            if s not in cfg.slos:
                err(("maintenance", i, "slos", j), *missing("SLO", s, cfg.slos))


__all__ = ["AlertRule", "ConditionError", "Heartbeat", "JobRef", "MaintenanceWindow", "PrometheusQuery",
           "PrometheusSli", "Slo", "cross_check_rules", "percent"]
