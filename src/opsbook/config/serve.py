"""Config for the daemon (``serve:``): listen address, scheduling, leases, logs, self-heartbeat.
Owned by src/opsbook/daemon/ (docs/serve.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..durations import Duration, PositiveDuration
from .fields import TimeZone, cron
from .resources import Model, Secret


class SelfHeartbeat(Model):
    """A dead man's switch: opsbook pings this URL while its loop is healthy (Healthchecks-style)."""

    url: Secret = Field(description="pinged every `every:`; a secret reference keeps the token out of the file")
    every: PositiveDuration = Field(default=60.0, description="how often to ping")
    method: Literal["GET", "POST"] = "GET"
    timeout: PositiveDuration = 10.0


class Schedules(Model):
    """Schedules for work whose own config has no ``schedule:`` key."""

    integrity: dict[str, str] = Field(
        default_factory=dict, description="integrity suite name -> cron expression (in serve.timezone)")
    db_snapshots: dict[str, PositiveDuration] = Field(
        default_factory=dict, description="postgres resource name -> how often to record an `opsbook db` snapshot")

    @field_validator("integrity")
    @classmethod
    def _crons(cls, v: dict[str, str]) -> dict[str, str]:
        for expr in v.values():
            cron(expr)
        return v


class Serve(Model):
    host: str = Field(default="127.0.0.1", description="address the dashboard and API listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="port the dashboard and API listen on")
    timezone: TimeZone = Field(default="UTC", description="time zone of every cron schedule:")
    tick: PositiveDuration = Field(default=1.0, description="how often the scheduler looks for due work")
    jitter: float = Field(default=0.1, ge=0.0, le=0.5,
                          description="random delay added to each run, as a fraction of the unit's interval")
    max_jitter: Duration = Field(default=30.0, description="the jitter never exceeds this")
    lease: PositiveDuration = Field(
        default=60.0, description="how long a claim holds before another replica may take over")
    drain_timeout: Duration = Field(default=60.0, description="on SIGTERM, wait this long for work in flight")
    backoff: PositiveDuration = Field(default=5.0, description="first delay after a unit errors; doubles per error")
    backoff_max: PositiveDuration = Field(default=600.0, description="the backoff never exceeds this")
    rules_every: PositiveDuration = Field(default=15.0, description="how often alert rules are evaluated")
    outbox_every: PositiveDuration = Field(default=5.0, description="how often due notifications are delivered")
    escalation_every: PositiveDuration = Field(default=5.0, description="how often due escalation levels fire")
    rollup_every: PositiveDuration = Field(default=300.0, description="how often history is rolled up and pruned")
    runbook_runs: int = Field(default=2, ge=1, le=32,
                              description="runbook runs started from the dashboard or the API that walk at once; "
                                          "one more is refused (503)")
    log_format: Literal["text", "json"] = "text"
    self_heartbeat: SelfHeartbeat | None = None
    schedules: Schedules = Field(default_factory=Schedules)


    @model_validator(mode="after")
    def _lease(self) -> Serve:
        if self.lease < 2 * self.tick:
            raise ValueError("serve.lease must be at least two ticks, or claims expire while work runs")
        return self
