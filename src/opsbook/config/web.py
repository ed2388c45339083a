"""Config for the JSON API, dashboard, status page and history retention (``api:``,
``status_page:``, ``retention:``). Owned by src/opsbook/web/."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from ..durations import Duration, PositiveDuration, parse_duration, parse_size
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
    session_ttl: PositiveDuration = Field(default=12 * 3600.0, description="how long a dashboard login lasts")
    metrics_public: bool | None = Field(
        default=None, description="true: /metrics is public; false: it needs a viewer token; "
        "unset (default): public only while serve.host is a loopback address")
    secure_cookies: bool = Field(default=False, description="mark cookies Secure (serve behind HTTPS)")
    max_body: int = Field(default=1024 * 1024, gt=0, description="largest request body accepted (e.g. 1MiB); "
                          "a bigger one is refused with 413 before it is read")

    @field_validator("max_body", mode="before")
    @classmethod
    def _size(cls, v: object) -> object:
        return parse_size(v) if isinstance(v, str) else v

    def metrics_open(self, host: str) -> bool:
        """Whether /metrics needs no token when the daemon listens on ``host``."""
        return self.metrics_public if self.metrics_public is not None else is_loopback(host)


def metrics_note(api: Api, host: str) -> str:
    """For serve's start-up line: who can read /metrics (it names every check)."""
    if api.metrics_open(host):
        why = "api.metrics_public: true" if api.metrics_public else f"{host} is loopback"
        return f"/metrics public: {why}"
    why = "api.metrics_public: false" if api.metrics_public is False else \
        f"{host} is not loopback; api.metrics_public: true publishes it"
    return f"/metrics needs a viewer token: {why}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost; 0.0.0.0, :: and names are not (they reach other hosts)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
