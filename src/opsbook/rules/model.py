"""The alert as data: what the rules layer hands to notify and to every surface.

This is the contract between rules (which decides what is pending/firing/resolved) and
notify (which groups, routes, silences and delivers) and the web/API surfaces (which show
it). Keep it plain data; rendering lives elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AlertStateName = Literal["inactive", "pending", "firing", "resolved"]


def fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of one alert instance: a hash of its sorted labels (alertname included)."""
    raw = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class AlertInstance:
    """One alert instance (one rule x one label set), as stored in the alert state rows.

    labels always carry ``alertname`` (the rule's name) and ``severity``; rule labels and
    labels from the source (e.g. ``check``, ``env``, Prometheus series labels) are added.
    """

    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertStateName
    value: float | None = None
    # when the condition first became true in this episode (pending since)
    active_since: datetime | None = None
    # when it went firing (None while pending)
    fired_at: datetime | None = None
    # when it resolved (only set in state "resolved")
    resolved_at: datetime | None = None
    last_eval_at: datetime | None = None
    # why it is in this state, for people: "api-ready failing for 3m12s (for: 3m)"
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "state": self.state,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": self.value,
            "active_since": iso(self.active_since),
            "fired_at": iso(self.fired_at),
            "resolved_at": iso(self.resolved_at),
            "last_eval_at": iso(self.last_eval_at),
            "reason": self.reason,
        }
