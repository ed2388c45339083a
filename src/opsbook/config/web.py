"""Config for the JSON API, dashboard, status page and history retention (``api:``,
``status_page:``, ``retention:``). Owned by src/opsbook/web/."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from ..durations import Duration, parse_duration
from .resources import Model, Secret

Role = Literal["viewer", "operator", "admin"]


class ApiToken(Model):
    token: Secret = Field(description="the bearer token; write it as {env: NAME} or {file: PATH}")
    role: Role = Field(default="viewer", description="viewer reads, operator also acts, admin also reads the audit log")
    description: str = ""


class Api(Model):
    tokens: dict[str, ApiToken] = Field(
        default_factory=dict, description="token name (shown in the audit log) -> token and role")
    # only viewer: a write without a session would have no CSRF token to tie it to
    anonymous: Literal["viewer"] | None = Field(
        default=None, description="viewer: read without a token; unset (default): log in first")
    session_secret: Secret | None = Field(
        default=None, description="signs dashboard session cookies; default: random per process")
    session_ttl: Duration = Field(default=12 * 3600.0, description="how long a dashboard login lasts")
    metrics_public: bool = Field(default=True, description="false: /metrics needs a viewer token")
    secure_cookies: bool = Field(default=False, description="mark cookies Secure (serve behind HTTPS)")


class StatusComponent(Model):
    name: str
    description: str = ""
    checks: list[str] = Field(min_length=1, description="checks whose worst status is the component's")


class Notice(Model):
    title: str
    body: str = ""
    level: Literal["info", "degraded", "outage", "resolved"] = "info"
    posted_at: datetime | None = None
    until: datetime | None = Field(default=None, description="hide the notice after this time")


class StatusPage(Model):
    title: str = "Status"
    description: str = ""
    components: list[StatusComponent] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
    days: int = Field(default=90, ge=1, le=365, description="uptime bars: how many days")


def _keep(v: object) -> float | None:
    if v is None or (isinstance(v, str) and v.strip().lower() in ("forever", "none")):
        return None
    return parse_duration(v)  # type: ignore[arg-type]


class Retention(Model):
    """How long each level of check history is kept; ``forever`` keeps it."""

    raw: Duration = Field(default=24 * 3600.0, description="every result, with its full evidence")
    failures: Duration = Field(default=14 * 86400.0, description="raw results that did not pass")
    minute: Duration = Field(default=2 * 86400.0, description="one row per check per minute")
    hour: Duration = Field(default=90 * 86400.0, description="one row per check per hour")
    day: float | None = Field(default=730 * 86400.0, description="one row per check per day; forever keeps all")
    # the other tables that grow (docs/history.md#everything-else-that-grows); forever keeps all
    runs: float | None = Field(default=90 * 86400.0, description="job and gate runs older than this go, "
                               "except each one's last `runs_keep` runs and its last successful one")
    runs_keep: int = Field(default=50, ge=1, description="runs always kept per (kind, name, env)")
    pings: float | None = Field(default=7 * 86400.0, description="heartbeat pings; each heartbeat's last "
                                "ping and last success are always kept")
    audit: float | None = Field(default=90 * 86400.0, description="API audit log rows")
    outbox: float | None = Field(default=30 * 86400.0, description="delivered notifications")
    outbox_dead: float | None = Field(default=90 * 86400.0, description="notifications given up on (dead)")
    flips: float | None = Field(default=365 * 86400.0, description="check status flips and alert transitions")

    @field_validator("day", "runs", "pings", "audit", "outbox", "outbox_dead", "flips", mode="before")
    @classmethod
    def _day(cls, v: object) -> float | None:
        return _keep(v)
