"""Public incident updates: what the status page says about an incident. An update is a row in
status_updates (status, message, affected status page components) plus an ``update`` event on
the incident, in one transaction. Only these rows reach /status: the incident's title, notes,
people and check names stay internal."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config.load import Config
from ..errors import UsageError
from ..store import Store
from ..store import incidents as incident_rows
from ..store import status_updates as rows
from .incident import Incident, _full, _get
from .status_notice import parse_components

PUBLIC_STATUSES: tuple[str, ...] = ("investigating", "identified", "monitoring", "resolved")


@dataclass(frozen=True)
class Published:
    update: rows.UpdateRow
    incident: Incident

    def to_dict(self) -> dict[str, Any]:
        u = self.update
        return {"update": {"id": u.id, "incident_id": u.incident_id, "status": u.status, "message": u.message,
                           "components": u.components, "at": u.at.isoformat(), "author": u.author},
                "incident": self.incident.to_dict()}


def check_status(status: str) -> str:
    if status not in PUBLIC_STATUSES:
        raise UsageError(f"no public status {status!r}", hint=f"one of: {', '.join(PUBLIC_STATUSES)}")
    return status


def publish(store: Store, cfg: Config, incident_id: int, message: str, status: str, author: str, now: datetime, *,
            components: Iterable[str] = ()) -> Published:
    """Post a public update on the incident (any status: a cancelled false alarm may need its
    all-clear too). Until an update names components, one that names none affects the incident's
    own components that are on the status page (declared with --component or by an alert rule)
    as degraded, so /status shows them."""
    if not message.strip():
        raise UsageError("a public update needs a message",
                         hint='e.g. opsbook incident update 7 --public "We are investigating" --status investigating')
    check_status(status)
    comps = parse_components(cfg, components)
    with store.transaction() as tx:
        row = _get(tx, incident_id)
        if not comps and status != "resolved":
            comps = _default_components(cfg, tx, row)
        u = rows.insert(tx, incident_id=incident_id, kind="incident", status=status, message=message.strip(),
                        components=comps, at=now, author=author, expires_at=None)
        incident_rows.touch(tx, incident_id, now, author)
        incident_rows.add_event(tx, incident_id, now, "update", author,
                                {"public": True, "status": status, "message": u.message, "components": comps,
                                 "update_id": u.id})
        return Published(u, _full(tx, _get(tx, incident_id)))


def _default_components(cfg: Config, tx: Any, row: incident_rows.IncidentRow) -> dict[str, str]:
    named = any(e.kind == "update" and e.detail.get("components") for e in incident_rows.events(tx, row.id))
    if named:  # the page carries the components of the latest update naming any
        return {}
    page = {c.name for c in cfg.model.status_page.components}
    return {c: "degraded" for c in row.components if c in page}
