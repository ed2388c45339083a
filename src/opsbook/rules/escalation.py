"""The start of an incident's escalation, written in the transaction that declares it. Here, in
the rules layer, because both declarers call it: ops/incident.py (by hand, the API) and
rules/incidents.py (alert rules), which sits below ops. Firing the levels is ops/escalation.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..config.escalation import policy_for
from ..config.models import ConfigBase
from ..store import escalations
from ..store.db import Tx


def begin(tx: Tx, cfg: ConfigBase, incident_id: int, severity: str, now: datetime,
          override: str | None = None) -> str | None:
    """Put the incident on its policy's ladder (level 1 due after its wait); the policy's name,
    or None when no policy applies (or the config no longer has it)."""
    name = policy_for(cfg, severity, override)
    policy = cfg.escalation.get(name) if name else None
    if name is None or policy is None:
        return None
    escalations.start(tx, incident_id, name, now + timedelta(seconds=policy.levels[0].wait), now)
    return name
