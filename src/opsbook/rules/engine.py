"""One evaluation of every alert rule and SLO burn tier at an injected ``now``.

    inactive -> pending (condition true; ``for:`` not yet met) -> firing -> resolved -> inactive

Set-based: sources are read with a few queries (sources.py), stored states with one, the state
machine runs in memory, and only rows that changed are written (state changes by compare-and-set).
A rule whose source fails (Prometheus down) keeps its state and records the error; the others
are evaluated as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config.conditions import WINDOWED, Condition
from ..config.load import Config
from ..config.rules import AlertRule
from ..durations import format_duration
from ..errors import SourceError
from ..store.store import Store
from . import heartbeats, incidents, maintenance, postmortem_due, prometheus, runbook_due, secret_due, slo, storage
from .model import AlertInstance, AlertStateName, fingerprint
from .sources import Need, View, fetch_checks, fetch_jobs
from .spec import Observation, RuleSpec, number
from .storage import Stored

SCHEMA = "opsbook.alerts-eval/1"


@dataclass(frozen=True)
class Transition:
    rule: str
    fingerprint: str
    from_state: str
    to_state: str
    at: datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "fingerprint": self.fingerprint, "from": self.from_state, "to": self.to_state,
                "at": self.at.isoformat(), "reason": self.reason}


@dataclass
class Evaluation:
    at: datetime
    alerts: list[AlertInstance] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    rules: int = 0
    conflicts: list[str] = field(default_factory=list)
    incidents: list[incidents.AutoIncident] = field(default_factory=list)
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "at": self.at.isoformat(), "rules": self.rules,
                "firing": sum(a.state == "firing" for a in self.alerts),
                "pending": sum(a.state == "pending" for a in self.alerts),
                "alerts": [a.to_dict() for a in self.alerts],
                "transitions": [t.to_dict() for t in self.transitions],
                "errors": dict(self.errors), "conflicts": list(self.conflicts),
                "incidents": [i.to_dict() for i in self.incidents],
                "duration_ms": round(self.duration_ms, 1)}


def current_alerts(store: Store, env: str = "") -> list[AlertInstance]:
    """The stored non-inactive alert instances (as of the last evaluation)."""
    alerts = [s.alert for s in storage.load_states(store, env, non_inactive=True).values()]
    return sorted(alerts, key=lambda a: (a.state != "firing", a.rule, a.fingerprint))


# -- reading sources -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What evaluation derives from the config alone, built once per loaded config (10k rules: ~0.3 s)."""

    model: Any
    rules: list[tuple[str, AlertRule, RuleSpec, Condition | None]]
    checks: dict[str, Need]
    jobs: dict[tuple[str, str], Need]


_FINGERPRINTS: dict[tuple[tuple[str, str], ...], str] = {}


def _plan(cfg: Config) -> _Plan:
    """What the rules need, worked out once per loaded config (a reload starts afresh)."""

    def make() -> _Plan:
        rules = cfg.model.alerts
        checks, jobs = _needs(rules)
        return _Plan(cfg.model, [(n, r, RuleSpec.of(n, r), r.condition) for n, r in rules.items()], checks, jobs)

    plan = cfg.derived("rules.plan", make)
    if plan.model is not cfg.model:  # the model was swapped on this Config object
        plan = cfg.cache["rules.plan"] = make()
    return plan


def _fingerprint(labels: dict[str, str]) -> str:
    """fingerprint() memoised: label sets repeat every cycle and hashing JSON is the hot spot."""
    key = tuple(labels.items())
    fp = _FINGERPRINTS.get(key)
    if fp is None:
        if len(_FINGERPRINTS) > 500_000:
            _FINGERPRINTS.clear()
        fp = _FINGERPRINTS[key] = fingerprint(labels)
    return fp


def _needs(rules: dict[str, AlertRule]) -> tuple[dict[str, Need], dict[tuple[str, str], Need]]:
    checks: dict[str, Need] = {}
    jobs: dict[tuple[str, str], Need] = {}
    for rule in rules.values():
        cond = rule.condition
        if cond is None or cond.source in ("heartbeat", "incident", "runbook", "secret"):
            continue
        need = checks.setdefault(cond.target, Need()) if cond.source == "check" else jobs.setdefault(cond.job, Need())
        if cond.consecutive:
            t = number(cond.threshold) or 0
            need.last = max(need.last, min(int(t) + 2, 1000))  # enough rows to see "more than t"
        if cond.needs_observations:
            need.observations = True
        if cond.window is not None:
            need.windows.add(cond.window)
    return checks, jobs


def _metric(cond: Condition, view: View, now: datetime) -> Any:
    """The compared value, or None for no data."""
    latest = view.latest
    name = cond.metric[0]
    if name in WINDOWED:
        assert cond.window is not None
        total, bad = view.windows.get(cond.window, (0, 0))
        if total == 0:
            return None
        return {"failures": bad, "results": total, "runs": total, "failure_ratio": bad / total}[str(name)]
    if name == "consecutive_failures":
        return view.consecutive_failures() if view.recent else None
    if name == "last_success_age":
        return (now - view.last_success).total_seconds() * 1000 if view.last_success else None
    if latest is None:
        return None
    if name in ("age", "last_run_age"):
        return (now - latest.at).total_seconds() * 1000
    if name == "status":
        return latest.status
    if name == "duration":
        return latest.duration_ms
    cur: Any = latest.observations or {}
    for part in cond.metric:
        found_key = isinstance(cur, dict) and part in cur
        found_index = isinstance(cur, list) and isinstance(part, int) and -len(cur) <= part < len(cur)
        if not (found_key or found_index):
            return None
        cur = cur[part]
    return cur


def _observe_condition(cond: Condition, view: View | None, hb: heartbeats.HeartbeatStatus | None,
                       now: datetime) -> Observation:
    if cond.source == "heartbeat":
        labels = {"heartbeat": cond.target}
        if hb is None or hb.status == "new":
            return Observation(labels, None, None, f"heartbeat {cond.target}: never pinged")
        states = {"late": ("late", "down", "failed"), "down": ("down", "failed"), "failed": ("failed",)}[cond.mode]
        return Observation(labels, hb.status in states, float(hb.status in states),
                           f"heartbeat {cond.target} {hb.status}: {hb.reason}")
    labels = {"check": cond.target} if cond.source == "check" else {"job_kind": cond.job[0], "job": cond.job[1]}
    assert view is not None
    what = f"{cond.source} {cond.target}"
    if cond.mode in ("failing", "passing"):
        latest = view.latest
        if latest is None:
            return Observation(labels, None, None, f"{what}: no results yet")
        bad = not latest.ok if cond.mode == "failing" else latest.ok
        return Observation(labels, bad, float(bad), f"{what} {latest.status}")
    value = _metric(cond, view, now)
    if value is None:
        return Observation(labels, None, None, f"{what}: no {'.'.join(map(str, cond.metric))} to read")

    def describe() -> str:  # only built for instances that are or were active: most rules are quiet
        window = f" in {format_duration(cond.window)}" if cond.window else ""
        return (f"{what} {'.'.join(map(str, cond.metric))} = {_show(cond, value)}{window} "
                f"({cond.op} {cond.threshold_text})")

    return Observation(labels, cond.holds(value), number(value), describe=describe)


def _show(cond: Condition, value: Any) -> str:
    if cond.metric[0] in ("age", "last_run_age", "last_success_age") and isinstance(value, float):
        return format_duration(value / 1000)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _observe_prometheus(cfg: Config, rule: AlertRule, stored: list[Stored], now: datetime) -> list[Observation]:
    assert rule.prometheus is not None
    samples = prometheus.query(cfg, rule.prometheus.resource, rule.prometheus.query, now)
    out = []
    seen = set()
    for s in samples:
        labels = {k: v for k, v in s.labels.items() if k != "__name__"}
        if rule.above is not None:
            cond, cmp = s.value > rule.above, f"> {rule.above:g}"
        elif rule.below is not None:
            cond, cmp = s.value < rule.below, f"< {rule.below:g}"
        else:
            cond, cmp = True, "returned"
        out.append(Observation(labels, cond, s.value, f"prometheus value {s.value:.4g} ({cmp})"))
        seen.add(tuple(sorted(labels.items())))
    # a series that was alerting and is gone from the result is "no data", not silently fine
    base = _base_labels("", rule.severity, rule.labels, cfg.env)
    for st in stored:
        own = {k: v for k, v in st.alert.labels.items() if k not in base}
        if tuple(sorted(own.items())) not in seen and st.alert.state != "inactive":
            out.append(Observation(own, None, None, "prometheus: series absent from the result"))
            seen.add(tuple(sorted(own.items())))
    if not out and rule.no_data == "alert":
        out.append(Observation({}, None, None, "prometheus: the query returned nothing"))
    return out


def _base_labels(name: str, severity: str, labels: dict[str, str], env: str | None) -> dict[str, str]:
    out = {"alertname": name, "severity": severity, **labels}
    if env:
        out["env"] = env
    return out


# -- the state machine -----------------------------------------------------------------------------


def _step(spec: RuleSpec, obs: Observation, prev: Stored | None, now: datetime, in_maint: str | None,
          env: str | None) -> Stored:
    labels = {**_base_labels(spec.name, spec.severity, spec.labels, env), **obs.labels}
    annotations = dict(spec.annotations)
    if prev is None:
        alert = AlertInstance(spec.name, labels, annotations, "inactive")
        st = Stored(alert, None, None)
    else:
        a = prev.alert
        alert = AlertInstance(spec.name, labels, annotations, a.state, a.value, a.active_since, a.fired_at,
                              a.resolved_at, a.last_eval_at, a.reason)
        st = Stored(alert, prev.last_true_at, prev.last_cond)
    state: AlertStateName = alert.state
    cond = obs.cond
    what = obs.text
    if cond is None:  # no data: the rule's policy decides
        cond = {"alert": True, "ok": False}.get(spec.no_data, bool(st.last_cond))
        what = f"{what} (no data: {spec.no_data})"
    elif state in ("pending", "firing") and obs.value is not None:  # hysteresis
        if spec.recover_below is not None:
            cond = obs.value >= spec.recover_below
        elif spec.recover_above is not None:
            cond = obs.value <= spec.recover_above
    alert.value = obs.value
    alert.last_eval_at = now
    st.last_cond = cond
    hold = f"; in maintenance window {in_maint}" if in_maint else ""
    if cond:
        st.last_true_at = now
        if state in ("inactive", "resolved"):
            if in_maint:
                alert.reason = f"{what}{hold}: not alerting"
                return st
            alert.state, alert.active_since, alert.fired_at, alert.resolved_at = "pending", now, None, None
            state = "pending"
        since = alert.active_since or now
        held = (now - since).total_seconds()
        if state == "pending" and held >= spec.for_ and not in_maint:
            alert.state, alert.fired_at = "firing", now
        for_text = f" (for: {format_duration(spec.for_)})" if spec.for_ else ""
        alert.reason = f"{what}, true for {format_duration(held)}{for_text}{hold}"
        return st
    if state == "pending":
        alert.state, alert.active_since = "inactive", None
        alert.reason = f"{what}: cleared before for: {format_duration(spec.for_)}"
    elif state == "firing":
        last_true = st.last_true_at or now
        if spec.keep_firing_for and (now - last_true).total_seconds() < spec.keep_firing_for:
            alert.reason = f"{what}: cleared; keep_firing_for {format_duration(spec.keep_firing_for)}"
        else:
            alert.state, alert.resolved_at = "resolved", now
            alert.reason = f"{what}: resolved"
    elif state == "resolved":
        alert.state = "inactive"  # a resolved instance is reported once, by the evaluation that resolved it
    else:
        alert.reason = what
    return st


# -- one evaluation --------------------------------------------------------------------------------


def evaluate(cfg: Config, store: Store, now: datetime) -> Evaluation:
    t0 = time.perf_counter()
    env = cfg.env or ""
    rules = cfg.model.alerts
    ev = Evaluation(now)
    plan = _plan(cfg)
    check_needs, job_needs = plan.checks, plan.jobs
    checks = fetch_checks(store, env, check_needs, now)
    jobs = fetch_jobs(store, env, job_needs, now)
    hbs = {h.name: h for h in heartbeats.status(cfg, store, now)} if cfg.model.heartbeats else {}
    stored = storage.load_states(store, env)
    by_rule: dict[str, list[Stored]] = {}
    for s in stored.values():
        by_rule.setdefault(s.alert.rule, []).append(s)
    windows = maintenance.active(cfg, now)

    work: list[tuple[RuleSpec, list[Observation]]] = []
    for name, rule, spec, cond in plan.rules:
        try:
            if cond is None:
                found = _observe_prometheus(cfg, rule, by_rule.get(name, []), now)
            elif cond.source == "incident":
                found = postmortem_due.observe(cfg, store, by_rule.get(name, []), now)
            elif cond.source == "runbook":
                found = runbook_due.observe(cfg, store, by_rule.get(name, []), now, cond.target, cond.mode)
            elif cond.source == "secret":
                found = secret_due.observe(cfg, store, cond.target, by_rule.get(name, []), now)
            else:
                view = (checks.get(cond.target) if cond.source == "check"
                        else jobs.get(cond.job) if cond.source == "job" else None)
                found = [_observe_condition(cond, view, hbs.get(cond.target), now)]
        except Exception as e:  # one bad rule never stops the others
            ev.errors[name] = f"{type(e).__name__}: {e}" if not isinstance(e, SourceError) else str(e)
            ev.alerts.extend(s.alert for s in by_rule.get(name, []) if s.alert.state != "inactive")
            continue
        work.append((spec, found))
    for slo_name, tiers in slo.burn_observations(cfg, store, now).items():
        if isinstance(tiers, str):
            ev.errors[f"slo:{slo_name}"] = tiers
            continue
        work.extend(tiers)

    seen: set[str] = set()
    changed: list[tuple[str | None, Stored]] = []
    touched: list[Stored] = []
    trans: list[tuple[str, str, Stored]] = []
    for spec, observations in work:
        ev.rules += 1
        for obs in observations:
            labels = {**_base_labels(spec.name, spec.severity, spec.labels, cfg.env), **obs.labels}
            fp = _fingerprint(labels)
            prev = stored.get(fp)
            seen.add(fp)
            if prev is None and obs.cond is False:
                continue  # nothing to remember: inactive and was never anything else
            in_maint = next((w.name for w in windows if maintenance.covers(w, spec, labels)), None)
            st = _step(spec, obs, prev, now, in_maint, cfg.env)
            old = prev.alert.state if prev else None
            new = st.alert.state
            if old is None and new == "inactive":
                continue
            if old != new:
                changed.append((old, st))
                if not (old == "resolved" and new == "inactive"):
                    trans.append((old or "inactive", new, st))
            elif (prev is not None and (prev.alert.value != st.alert.value or prev.alert.reason != st.alert.reason
                                        or new != "inactive")):
                touched.append(st)
            if new != "inactive":
                ev.alerts.append(st.alert)
    # instances nobody observed any more (rule removed, labels edited): resolve them, do not leave them firing
    for fp, prev in stored.items():
        if fp in seen or prev.alert.rule in ev.errors or prev.alert.state == "inactive":
            continue
        st = Stored(prev.alert, prev.last_true_at, False)
        old = prev.alert.state
        st.alert.state = "inactive" if old in ("pending", "resolved") else "resolved"
        st.alert.resolved_at = now if st.alert.state == "resolved" else st.alert.resolved_at
        st.alert.reason = "no longer evaluated (rule removed or its labels changed)"
        changed.append((old, st))
        if st.alert.state == "resolved":
            trans.append((old, "resolved", st))
            ev.alerts.append(st.alert)
    ev.conflicts = storage.save_changes(store, env, changed, touched, trans, now)
    lost = set(ev.conflicts)
    ev.transitions = [Transition(s.alert.rule, s.alert.fingerprint, f, t, now, s.alert.reason)
                      for f, t, s in trans if s.alert.fingerprint not in lost]
    # only transitions this evaluator stored: of two replicas racing, the one that lost the
    # compare-and-set does not declare (and the store's unique index covers a closer race)
    won = [(t, s.alert) for _, t, s in trans if s.alert.fingerprint not in lost]
    ev.incidents = incidents.apply(cfg, store, [a for t, a in won if t == "firing"],
                                   [a for t, a in won if t == "resolved"], now)
    storage.save_rule_status(store, env, now, ev.errors, [*rules, *(f"slo:{n}" for n in cfg.model.slos)])
    ev.alerts.sort(key=lambda a: (a.state != "firing", a.state != "pending", a.rule, a.fingerprint))
    ev.duration_ms = (time.perf_counter() - t0) * 1000
    return ev
