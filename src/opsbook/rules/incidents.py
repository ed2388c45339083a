"""Incidents declared by alert rules (``alerts.NAME.incident``), called by engine.evaluate with the
transitions it stored, so `opsbook alerts eval` and the daemon both declare them.

An alert going firing declares an incident whose ``dedup_key`` is the alert's identity (rule and
fingerprint of its labels). While that incident is open, the same alert firing again joins it (an
``alert`` event) instead of opening another; the store's unique index on open ``dedup_key`` makes
this hold across replicas racing on one PostgreSQL store. The alert resolving is an ``alert``
event too: it never resolves the incident, people do. Writes go straight to store/incidents.py
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


def apply(cfg: Config, store: Store, fired: list[AlertInstance], resolved: list[AlertInstance],
          now: datetime) -> list[AutoIncident]:
    """Declare or join an incident for each alert that went firing, note each that resolved;
    only for rules with ``incident:``. One transaction per alert."""
    rules = cfg.model.alerts
    out: list[AutoIncident] = []
    for alert in fired:
        rule = rules.get(alert.rule)
        if rule is None or rule.incident is None:
            continue
        title = rule.incident.title or alert.annotations.get("summary") or alert.rule
        detected = min(alert.active_since or alert.fired_at or now, now)
        key = dedup_key(alert)
        with store.transaction() as tx:
            row = rows.insert_unless_open(
                tx, title=title, severity=rule.incident.severity, status="triage", components=[],
                summary=rule.description or alert.reason, dedup_key=key, detected_at=detected, declared_at=now,
                created_by=ACTOR)
            if row is not None:
                rows.add_event(tx, row.id, now, "declared", ACTOR,
                               {"title": row.title, "severity": row.severity, "components": [],
                                **_detail(alert, "fired")})
                begin_escalation(tx, cfg.model, row.id, row.severity, now, rule.incident.escalation)
                out.append(AutoIncident(row.id, "declared", alert.rule, alert.fingerprint))
                continue
            # an open incident holds the key (ours from an earlier firing, or a racing replica's)
            row = rows.latest_by_dedup(tx, key, rows.OPEN)
            if row is None:  # it was resolved between our insert and this read: the next firing opens one
                continue
            rows.touch(tx, row.id, now, ACTOR)
            rows.add_event(tx, row.id, now, "alert", ACTOR, _detail(alert, "fired again"))
            out.append(AutoIncident(row.id, "joined", alert.rule, alert.fingerprint))
    for alert in resolved:
        rule = rules.get(alert.rule)
        if rule is None or rule.incident is None:
            continue
        with store.transaction() as tx:
            # the newest one with this key is this firing's (a firing either joins it or opens it),
            # even when people resolved it before the alert cleared
            row = rows.latest_by_dedup(tx, dedup_key(alert))
            if row is None:
                continue
            rows.touch(tx, row.id, now, ACTOR)
            rows.add_event(tx, row.id, now, "alert", ACTOR, _detail(alert, "resolved"))
            out.append(AutoIncident(row.id, "resolved", alert.rule, alert.fingerprint))
    return out
