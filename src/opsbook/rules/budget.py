"""The error-budget policy gate: refuse (deploys) when an SLO has consumed too much of its budget.

An override needs a reason and an expiry and is a row (who, why, until); while one is unexpired
the gate passes and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.load import Config
from ..errors import SourceError, UsageError
from ..store import alerts
from ..store.store import Store
from .slo import SloStatus, status_of

SCHEMA = "opsbook.gate-budget/1"


@dataclass
class Override:
    slo: str
    reason: str
    by: str
    created_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"slo": self.slo, "reason": self.reason, "by": self.by, "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat()}


@dataclass
class Verdict:
    slo: str
    ok: bool
    limit: float
    status: SloStatus
    override: Override | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "slo": self.slo, "ok": self.ok, "max_consumed": self.limit,
                "consumed": self.status.consumed, "remaining": self.status.remaining,
                "override": self.override.to_dict() if self.override else None, "message": self.message,
                "status": self.status.to_dict()}


def add_override(cfg: Config, store: Store, slo: str, reason: str, by: str, now: datetime, expires: datetime) -> None:
    if slo not in cfg.model.slos:
        raise UsageError(f"no SLO named {slo!r}", hint=f"defined: {', '.join(cfg.model.slos) or '(none)'}")
    with store.transaction() as tx:
        alerts.add_override(tx, slo, cfg.env or "", reason, by, now, expires)


def active_override(cfg: Config, store: Store, slo: str, now: datetime) -> Override | None:
    with store.transaction() as tx:
        row = alerts.active_override(tx, slo, cfg.env or "", now)
    return None if row is None else Override(slo, *row)


def check(cfg: Config, store: Store, slo: str, now: datetime, limit: float | None = None) -> Verdict:
    st = status_of(cfg, store, slo, now)  # UsageError for an unknown name
    if limit is None:
        freeze = cfg.model.slos[slo].freeze_at
        limit = freeze if freeze is not None else 1.0
    if st.error is not None:
        raise SourceError(f"cannot compute the budget of {slo}: {st.error}")
    ov = active_override(cfg, store, slo, now)
    breached = st.consumed > limit
    if not breached:
        msg = f"{st.consumed:.1%} of the budget consumed (limit {limit:.0%})"
        return Verdict(slo, True, limit, st, ov, msg)
    if ov is not None:
        msg = (f"{st.consumed:.1%} consumed, over the limit {limit:.0%}, but overridden by {ov.by} until "
               f"{ov.expires_at:%Y-%m-%d %H:%M} UTC: {ov.reason}")
        return Verdict(slo, True, limit, st, ov, msg)
    msg = (f"{st.consumed:.1%} of the budget consumed, over the limit {limit:.0%}: freeze; override with "
           "--override --reason TEXT --expires 24h")
    return Verdict(slo, False, limit, st, None, msg)
