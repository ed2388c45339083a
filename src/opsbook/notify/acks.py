"""Acknowledge an alert group: someone is on it. Repeats stop until a new alert fires in the
group (or it resolves and goes away); PagerDuty receivers of the group are sent an
``acknowledge`` event for the group's dedup_key, through the outbox like everything else. The
unacknowledged incidents its firing alerts declared are acknowledged in the same transaction,
which stops their escalation (docs/escalation.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..rules import incidents as auto_incidents
from ..store import groups as group_rows
from ..store.store import Store
from . import groups as groups_mod
from . import outbox
from .render import title_text


@dataclass(frozen=True)
class Ack:
    group_key: str
    group_id: str
    by: str
    at: datetime
    comment: str
    enqueued: list[str]  # receivers an acknowledge event was queued for
    incidents: list[int] = field(default_factory=list)  # incidents its alerts declared, acknowledged with it

    def to_dict(self) -> dict[str, Any]:
        return {"group_key": self.group_key, "group_id": self.group_id, "by": self.by,
                "at": self.at.isoformat(), "comment": self.comment, "enqueued": self.enqueued,
                "incidents": self.incidents}


def acknowledge(store: Store, group_key: str, by: str, now: datetime, comment: str = "") -> Ack:
    """Acknowledge a group by its key or id. Acknowledging again updates who and when."""
    queued: list[str] = []
    acked: list[int] = []
    with store.transaction() as tx:
        g = groups_mod.find(tx, group_key)
        group_rows.acknowledge(tx, g.group_key, by, now, comment)
        # the incidents its firing alerts declared are acknowledged too: their escalation stops
        for a in g.alerts:
            if a.get("state") == "firing" and a.get("rule") and a.get("fingerprint"):
                iid = auto_incidents.acknowledge(tx, a["rule"], a["fingerprint"], by, now, f"alert group {g.group_id}")
                if iid is not None:
                    acked.append(iid)
        for r in g.receivers:
            if r.get("kind") != "pagerduty":
                continue
            dkey = f"ack:{g.group_id}:{r['name']}:{now.isoformat()}"
            doc: dict[str, Any] = {
                "schema": "opsbook.notification/1", "id": dkey, "kind": "acknowledge", "status": "firing",
                "reason": "acknowledge", "receiver": r["name"], "group_key": g.group_key, "group_id": g.group_id,
                "group_labels": g.labels, "dedup_key": g.dedup_key, "alerts": [], "acked_by": by,
                "comment": comment, "created_at": now.isoformat(),
            }
            doc["title"] = title_text(doc)
            if outbox.enqueue(tx, dedup_key=dkey, group_key=g.group_key, receiver=r["name"], kind="acknowledge",
                              payload=doc, now=now):
                queued.append(r["name"])
    return Ack(g.group_key, g.group_id, by, now, comment, queued, acked)
