"""Incidents declared by alert rules (``alerts.NAME.incident``), called by engine.evaluate with the
transitions it stored, so `opsbook alerts eval` and the daemon both declare them.

An alert going firing declares an incident whose ``dedup_key`` is the alert's identity (rule and
fingerprint of its labels). While that incident is open, the same alert firing again joins it (an
``alert`` event) instead of opening another; the store's unique index on open ``dedup_key`` makes
this hold across replicas racing on one PostgreSQL store. The alert resolving is an ``alert``
event too: it never resolves the incident, people do. A page-tier SLO burn (``slos.NAME.incident``)
declares one the same way, keyed by the SLO (both page tiers join one incident). When the
incident holding a key was merged into another (`incident merge`), the alert joins the one that
went on while that is open. Writes go straight to store/incidents.py
(the rules layer sits below ops/); the rows and events are the ones ops/incident.py writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.load import Config
from ..store import escalations
from ..store import incidents as rows
from ..store.db import Tx
from ..store.store import Store
from .escalation import begin as begin_escalation
from .model import AlertInstance

ACTOR = "opsbook"


@dataclass(frozen=True)
class AutoIncident:
    """What one transition did: ``declared`` a new incident, ``joined`` an open one, or recorded
    the alert ``resolved`` on it."""

    incident_id: int
    action: str
    rule: str
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident_id, "action": self.action, "rule": self.rule,
                "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class _Auto:
    """What declaring needs, whether an alert rule or an SLO asked for it."""

    severity: str
    title: str
    summary: str
    components: list[str]
    key: str
    extra: dict[str, Any]
    escalation: str | None = None  # the alert rule's policy, over the severity's


def dedup_key(alert: AlertInstance) -> str:
    return key_of(alert.rule, alert.fingerprint)


def key_of(rule: str, fingerprint: str) -> str:
    """The dedup_key of the incidents an alert declares (notify/acks.py finds them by it)."""
    return f"alert:{rule}:{fingerprint}"


def acknowledge(tx: Tx, rule: str, fingerprint: str, by: str, now: datetime, via: str) -> int | None:
    """Acknowledge the unacknowledged incident this alert declared, if any (someone acknowledged
    its alert group); its escalation stops. The incident's id, or None."""
    row = rows.latest_by_dedup(tx, key_of(rule, fingerprint), ("triage",))
    if row is None or rows.move(tx, row.id, "triage", "investigating", now, by) is None:
        return None
    rows.add_event(tx, row.id, now, "ack", by, {"from": "triage", "to": "investigating", "via": via})
    escalations.stop(tx, row.id, "acknowledged", now)
    return row.id


def _detail(alert: AlertInstance, what: str) -> dict[str, Any]:
    return {"alert": what, "rule": alert.rule, "labels": dict(alert.labels), "reason": alert.reason}


def _components(cfg: Config, given: list[str] | None, check: str | None) -> list[str]:
    """The configured components, else the status page components that show ``check``."""
    if given is not None:
        return list(dict.fromkeys(given))
    return [c.name for c in cfg.model.status_page.components if check is not None and check in c.checks]


def _auto(cfg: Config, alert: AlertInstance) -> _Auto | None:
    """The incident this alert declares, or None (no ``incident:``, or an SLO tier below page)."""
    if alert.rule.startswith("slo:"):
        name = alert.rule[4:]
        slo = cfg.model.slos.get(name)
        if slo is None or slo.incident is None or alert.labels.get("severity") != "page":
            return None
        extra = {"slo": name, "slo_window": slo.window, "tier": alert.labels.get("tier"),
                 "long_window": alert.labels.get("long_window"), "short_window": alert.labels.get("short_window"),
                 "burn_rate": alert.value}
        return _Auto(slo.incident.severity, slo.incident.title or f"SLO {name} is burning its error budget",
                     slo.description or alert.reason, _components(cfg, slo.incident.components, slo.check),
                     f"slo:{name}", extra)
    rule = cfg.model.alerts.get(alert.rule)
    if rule is None or rule.incident is None:
        return None
    return _Auto(rule.incident.severity, rule.incident.title or alert.annotations.get("summary") or alert.rule,
                 rule.description or alert.reason,
                 _components(cfg, rule.incident.components, alert.labels.get("check")), dedup_key(alert), {},
                 rule.incident.escalation)


def _holder(tx: Any, key: str, statuses: tuple[str, ...] | None = None) -> rows.IncidentRow | None:
    """The newest incident with ``key``; when it was merged, the one it was merged into."""
    row = rows.latest_by_dedup(tx, key, statuses)
    return rows.surviving(tx, row) if row is not None and row.status == "merged" else row


def apply(cfg: Config, store: Store, fired: list[AlertInstance], resolved: list[AlertInstance],
          now: datetime) -> list[AutoIncident]:
    """Declare or join an incident for each alert that went firing, note each that resolved;
    only for rules with ``incident:``. One transaction per alert."""
    out: list[AutoIncident] = []
    for alert in fired:
        auto = _auto(cfg, alert)
        if auto is None:
            continue
        detected = min(alert.active_since or alert.fired_at or now, now)
        with store.transaction() as tx:
            holder = _holder(tx, auto.key)  # a merged incident's key joins the one that went on
            row = None
            if holder is None or holder.dedup_key == auto.key or holder.status not in rows.OPEN:
                row = rows.insert_unless_open(
                    tx, title=auto.title, severity=auto.severity, status="triage", components=auto.components,
                    summary=auto.summary, dedup_key=auto.key, detected_at=detected, declared_at=now,
                    created_by=ACTOR)
            if row is not None:
                rows.add_event(tx, row.id, now, "declared", ACTOR,
                               {"title": row.title, "severity": row.severity, "components": auto.components,
                                **_detail(alert, "fired"), **auto.extra})
                begin_escalation(tx, cfg.model, row.id, row.severity, now, auto.escalation)
                out.append(AutoIncident(row.id, "declared", alert.rule, alert.fingerprint))
                continue
            # an open incident holds the key (ours from an earlier firing, or a racing replica's),
            # or the key's incident was merged into an open one
            row = holder if holder is not None and holder.status in rows.OPEN else \
                rows.latest_by_dedup(tx, auto.key, rows.OPEN)
            if row is None:  # it was resolved between our insert and this read: the next firing opens one
                continue
            rows.touch(tx, row.id, now, ACTOR)
            rows.add_event(tx, row.id, now, "alert", ACTOR, {**_detail(alert, "fired again"), **auto.extra})
            out.append(AutoIncident(row.id, "joined", alert.rule, alert.fingerprint))
    for alert in resolved:
        auto = _auto(cfg, alert)
        if auto is None:
            continue
        with store.transaction() as tx:
            # the newest one with this key is this firing's (a firing either joins it or opens it),
            # even when people resolved it before the alert cleared
            row = _holder(tx, auto.key)
            if row is None:
                continue
            rows.touch(tx, row.id, now, ACTOR)
            rows.add_event(tx, row.id, now, "alert", ACTOR, _detail(alert, "resolved"))
            out.append(AutoIncident(row.id, "resolved", alert.rule, alert.fingerprint))
    return out
