"""SLOs: error budget and multiwindow multi-burn-rate alerts, event-weighted.

    events       check results (good = pass/warn [and faster than faster_than:]), job runs
                 (good = ok), or Prometheus counters (increase() of good/bad and total)
    error rate   bad / total over a lookback           (events, not a mean of ratios)
    burn rate    error rate / (1 - objective)          (1x spends the budget exactly over the window)
    consumed     bad / ((1 - objective) x total)       over the SLO window

Tiers for a 30-day window (Google SRE workbook): 14.4x over 1h and 5m -> page; 6x over 6h and
30m -> page; 3x over 1d and 2h -> ticket; 1x over 3d and 6h -> ticket. Other windows scale the
lookbacks by window/30d; the short window is always long/12. A tier fires only when both of its
windows burn at least its rate and each holds at least min_events events. Events inside a
maintenance window that applies to the SLO are not counted at all.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config.load import Config
from ..config.rules import Slo
from ..durations import format_duration
from ..errors import SourceError, UsageError
from ..store import checks, runs
from ..store.store import Store
from . import maintenance, prometheus
from .spec import Observation, RuleSpec

SCHEMA = "opsbook.slo-status/1"
DAY = 86400.0
# (burn rate, long lookback for a 30-day window, severity)
TIERS: tuple[tuple[float, float, str], ...] = (
    (14.4, 3600.0, "page"),
    (6.0, 6 * 3600.0, "page"),
    (3.0, DAY, "ticket"),
    (1.0, 3 * DAY, "ticket"),
)

Span = tuple[datetime, datetime]


@dataclass
class Count:
    total: int = 0
    bad: int = 0

    def burn(self, objective: float) -> float | None:
        return None if self.total == 0 else (self.bad / self.total) / (1 - objective)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "good": self.total - self.bad, "bad": self.bad}


@dataclass
class Tier:
    rate: float
    severity: str
    long: float
    short: float
    long_count: Count
    short_count: Count
    min_events: int
    objective: float

    @property
    def name(self) -> str:
        return f"{self.rate:g}x"

    @property
    def enough_traffic(self) -> bool:
        return self.long_count.total >= self.min_events and self.short_count.total >= self.min_events

    @property
    def firing(self) -> bool:
        lb, sb = self.long_count.burn(self.objective), self.short_count.burn(self.objective)
        return self.enough_traffic and lb is not None and sb is not None and lb >= self.rate and sb >= self.rate

    def describe(self) -> str:
        def one(c: Count, w: float) -> str:
            b = c.burn(self.objective)
            return f"{'-' if b is None else f'{b:.2f}x'} over {format_duration(w)} ({c.bad}/{c.total} bad)"

        note = "" if self.enough_traffic else f"; not enough traffic (min_events {self.min_events})"
        return (f"{one(self.long_count, self.long)} and {one(self.short_count, self.short)}; "
                f"fires at >= {self.name}{note}")

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.name, "severity": self.severity, "burn_rate_threshold": self.rate,
                "long": {"window": format_duration(self.long), **self.long_count.to_dict(),
                         "burn_rate": self.long_count.burn(self.objective)},
                "short": {"window": format_duration(self.short), **self.short_count.to_dict(),
                          "burn_rate": self.short_count.burn(self.objective)},
                "enough_traffic": self.enough_traffic, "firing": self.firing, "text": self.describe()}


@dataclass
class SloStatus:
    name: str
    objective: float
    window: str
    start: datetime
    end: datetime
    sli: str
    events: Count = field(default_factory=Count)
    tiers: list[Tier] = field(default_factory=list)
    excluded: list[Span] = field(default_factory=list)
    error: str | None = None

    @property
    def allowed_bad(self) -> float:
        return (1 - self.objective) * self.events.total

    @property
    def consumed(self) -> float:
        """Fraction of the error budget spent (above 1 when overspent)."""
        if self.events.total == 0:
            return 0.0
        return self.events.bad / self.allowed_bad

    @property
    def remaining(self) -> float:
        return 1 - self.consumed

    @property
    def formula(self) -> str:
        e = self.events
        if e.total == 0:
            return "no events in the window: nothing consumed"
        return (f"consumed = bad / ((1 - objective) x total) = {e.bad} / ({1 - self.objective:.6g} x {e.total}) "
                f"= {e.bad} / {self.allowed_bad:.6g} = {self.consumed:.2%}; remaining = 1 - consumed = "
                f"{self.remaining:.2%}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "objective": self.objective, "window": self.window,
                "from": self.start.isoformat(), "to": self.end.isoformat(), "sli": self.sli,
                "events": self.events.to_dict(),
                "budget": {"allowed_bad": round(self.allowed_bad, 6), "consumed": self.consumed,
                           "remaining": self.remaining},
                "formula": self.formula, "tiers": [t.to_dict() for t in self.tiers],
                "excluded": [{"from": a.isoformat(), "to": b.isoformat()} for a, b in self.excluded],
                "error": self.error}


def window_of(slo: Slo, now: datetime) -> tuple[datetime, float]:
    """(start of the budget window, the scale of the tier lookbacks relative to 30 days)."""
    if slo.window == "calendar_month":
        n = now.astimezone(UTC)
        days = calendar.monthrange(n.year, n.month)[1]
        return n.replace(day=1, hour=0, minute=0, second=0, microsecond=0), days / 30
    w = slo.window_seconds
    return now - timedelta(seconds=w), w / (30 * DAY)


def _counts(cfg: Config, store: Store, slo: Slo, now: datetime, starts: list[datetime],
            excluded: list[Span]) -> list[Count]:
    """Events in [start, now] for each start, maintenance spans left out: one query (store SLIs)."""
    if slo.prometheus is not None:
        return [_prom_count(cfg, slo, s, now, excluded) for s in starts]
    with store.transaction() as tx:
        if slo.check is not None:
            faster = slo.faster_than * 1000 if slo.faster_than is not None else None
            got = checks.slo_counts(tx, slo.check, cfg.env or "", faster, starts, now, excluded)
        else:
            assert slo.job is not None
            got = runs.slo_counts(tx, slo.job.kind, slo.job.name, cfg.env or "", starts, now, excluded)
    return [Count(total, bad) for total, bad in got]


def _prom_count(cfg: Config, slo: Slo, start: datetime, end: datetime, excluded: list[Span]) -> Count:
    """increase() of the counters over [start, end], minus their increase over the excluded spans."""
    sli = slo.prometheus
    assert sli is not None

    def inc(expr: str, a: datetime, b: datetime) -> float:
        seconds = max(int((b - a).total_seconds()), 1)
        samples = prometheus.query(cfg, sli.resource, f"sum(increase({expr}[{seconds}s]))", b)
        return samples[0].value if samples else 0.0

    def over(expr: str) -> float:
        total = inc(expr, start, end)
        for a, b in excluded:
            a, b = max(a, start), min(b, end)
            if a < b:
                total -= inc(expr, a, b)
        return max(total, 0.0)

    total = over(sli.total)
    bad = over(sli.bad) if sli.bad is not None else total - over(sli.good or "")
    return Count(round(total), max(round(bad), 0))


def status_of(cfg: Config, store: Store, name: str, now: datetime) -> SloStatus:
    slo = cfg.model.slos.get(name)
    if slo is None:
        raise UsageError(f"no SLO named {name!r}", hint=f"defined: {', '.join(cfg.model.slos) or '(none)'}")
    start, scale = window_of(slo, now)
    if slo.check is not None:
        sli = f"check {slo.check} results" + (f" (good: pass/warn and faster than "
                                               f"{format_duration(slo.faster_than)})" if slo.faster_than else
                                               " (good: pass/warn)")
    elif slo.job is not None:
        sli = f"{slo.job.kind} {slo.job.name} runs (good: ok)"
    else:
        assert slo.prometheus is not None
        p = slo.prometheus
        sli = f"prometheus {p.resource}: {'good ' + p.good if p.good else 'bad ' + str(p.bad)} / total {p.total}"
    tiers = [(rate, base * scale, base * scale / 12, sev) for rate, base, sev in TIERS]
    earliest = min([start, *(now - timedelta(seconds=t[1]) for t in tiers)])
    excluded = maintenance.slo_ranges(cfg, name, slo.check, earliest, now)
    st = SloStatus(name, slo.objective, slo.window, start, now, sli,
                   excluded=[(a, b) for a, b in excluded if b > start])
    starts = [start]
    for _, long, short, _ in tiers:
        starts += [now - timedelta(seconds=long), now - timedelta(seconds=short)]
    try:
        counts = _counts(cfg, store, slo, now, starts, excluded)
    except SourceError as e:
        st.error = e.message
        return st
    st.events = counts[0]
    for i, (rate, long, short, sev) in enumerate(tiers):
        st.tiers.append(Tier(rate, sev, long, short, counts[1 + 2 * i], counts[2 + 2 * i], slo.min_events,
                             slo.objective))
    return st


@dataclass
class Spent:
    """The share of an SLO's error budget spent between two times (an incident's window): the bad
    events in that span over the budget of the SLO window ending at its end."""

    name: str
    objective: float
    window: str
    span: Count
    budget_window: Count
    error: str | None = None

    @property
    def allowed_bad(self) -> float:
        return (1 - self.objective) * self.budget_window.total

    @property
    def consumed(self) -> float:
        return self.span.bad / self.allowed_bad if self.allowed_bad else 0.0

    @property
    def formula(self) -> str:
        if self.error:
            return f"not counted: {self.error}"
        if self.budget_window.total == 0:
            return "no events in the SLO window: nothing consumed"
        return (f"consumed = bad in the incident window / ((1 - objective) x total in the SLO window) = "
                f"{self.span.bad} / ({1 - self.objective:.6g} x {self.budget_window.total}) = "
                f"{self.span.bad} / {self.allowed_bad:.6g} = {self.consumed:.2%}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "objective": self.objective, "window": self.window,
                "incident_events": self.span.to_dict(), "slo_window_events": self.budget_window.to_dict(),
                "allowed_bad": round(self.allowed_bad, 6), "consumed": self.consumed, "formula": self.formula,
                "error": self.error}


def spent_between(cfg: Config, store: Store, name: str, start: datetime, end: datetime) -> Spent:
    """Budget spent by the events in (start, end], counted as the SLO counts them (maintenance
    left out), against the budget of the SLO window ending at ``end``."""
    slo = cfg.model.slos[name]
    window_start, _ = window_of(slo, end)
    excluded = maintenance.slo_ranges(cfg, name, slo.check, min(window_start, start), end)
    spent = Spent(name, slo.objective, slo.window, Count(), Count())
    try:
        whole, span = _counts(cfg, store, slo, end, [window_start, start], excluded)
    except SourceError as e:
        spent.error = e.message
        return spent
    spent.budget_window, spent.span = whole, span
    return spent


def status(cfg: Config, store: Store, now: datetime) -> list[SloStatus]:
    return [status_of(cfg, store, name, now) for name in cfg.model.slos]


Burn = list[tuple[RuleSpec, list[Observation]]]


def burn_observations(cfg: Config, store: Store, now: datetime) -> dict[str, Burn | str]:
    """Each SLO's burn tiers as alert rules for the engine; an SLO whose SLI cannot be read maps to its error."""
    out: dict[str, Burn | str] = {}
    for name, slo in cfg.model.slos.items():
        if not slo.burn_alerts:
            continue
        st = status_of(cfg, store, name, now)
        if st.error is not None:
            out[name] = st.error
            continue
        rows = []
        for t in st.tiers:
            annotations = {"summary": f"SLO {name} is burning its error budget at >= {t.name}",
                           **slo.annotations}
            spec = RuleSpec(f"slo:{name}", t.severity, {**slo.labels, "slo": name}, annotations,
                            checks=(slo.check,) if slo.check else (), slo=name)
            obs = Observation({"tier": t.name, "long_window": format_duration(t.long),
                               "short_window": format_duration(t.short)}, t.firing,
                              t.long_count.burn(slo.objective), f"SLO {name} burn {t.describe()}")
            rows.append((spec, [obs]))
        out[name] = rows
    return out
