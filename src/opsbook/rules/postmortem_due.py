"""The ``incident postmortem overdue`` rule source: one alert instance per incident whose
required post-mortem is past its due time (resolved_at + incidents.postmortem.due) and not
written. Written means the incident has a ``postmortem`` event (`opsbook incident postmortem ID
--out FILE` records it) or a ``postmortem_waived`` one (`incident close --without-postmortem`).

Instances that were firing and are no longer overdue (the post-mortem got written) are observed
as false, so they resolve through the normal alert path."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..config.load import Config
from ..store import incidents as rows
from ..store.store import Store
from .spec import Observation
from .storage import Stored

# the event kinds that settle a required post-mortem (ops/incident_edit.py writes them)
DONE: tuple[str, ...] = ("postmortem", "postmortem_waived")


def observe(cfg: Config, store: Store, stored: list[Stored], now: datetime) -> list[Observation]:
    pol = cfg.model.incidents
    due = pol.postmortem.due
    with store.read() as tx:
        late = rows.postmortem_pending(tx, tuple(pol.postmortem_required_for), DONE, now - timedelta(seconds=due))
    out: list[Observation] = []
    seen: set[str] = set()
    for r in late:
        assert r.resolved_at is not None
        due_at = r.resolved_at + timedelta(seconds=due)
        late_by = (now - due_at).total_seconds()
        labels = {"incident": str(r.id), "incident_severity": r.severity}
        seen.add(labels["incident"])
        out.append(Observation(labels, True, late_by,
                               f"incident {r.id} ({r.severity}): post-mortem due {due_at.isoformat()}, not written; "
                               f"write it with `opsbook incident postmortem {r.id} --out FILE`"))
    for st in stored:  # was overdue, is not any more: written (or waived)
        iid = st.alert.labels.get("incident")
        if iid is not None and iid not in seen and st.alert.state != "inactive":
            out.append(Observation({"incident": iid, "incident_severity": st.alert.labels.get("incident_severity", "")},
                                   False, 0.0, f"incident {iid}: post-mortem written"))
    return out
