"""The public status page as data: chosen components, their state, daily uptime, maintenance,
notices and public incidents. Only names the config chose for the public and text written for the
public (`incident update --public`, `status notice`) are shown: no check names, hostnames, URLs,
errors, DSNs, incident titles, notes or people."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..ops.incident import OPEN
from ..rules import maintenance as windows
from ..store import checks, incidents, rollup, status_updates
from ..store.store import Store

# worst first; what the public reads for each check status
_RANK = {"fail": 0, "error": 0, "blocked": 1, "warn": 2, "pass": 3, "nodata": 4}
_STATE = {0: "outage", 1: "degraded", 2: "degraded", 3: "operational", 4: "unknown"}


def build(cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
    page = cfg.model.status_page
    env = cfg.env or ""
    days = page.days
    since = rollup.floor(now, "day") - timedelta(days=days - 1)
    with store.read() as tx:  # one snapshot; grouped queries over every check at once
        states = checks.statuses(tx, env)
        daily = rollup.daily_counts(tx, since, env, now, rollup.watermarks_tx(tx))
        updates = [u for u in status_updates.incident_updates_since(tx, since) if u.at <= now]
        statuses = {i: row.status for i in {u.incident_id for u in updates if u.incident_id is not None}
                    if (row := incidents.get(tx, i)) is not None}
        posted = status_updates.active_notices(tx, now)
    current, history = _public_incidents(updates, statuses)
    overrides: dict[str, str] = {}
    for affected in [i["components"] for i in current] + [n.components for n in posted]:
        for name, impact in affected.items():
            if overrides.get(name) != "outage":
                overrides[name] = impact
    dates = [since + timedelta(days=i) for i in range(days)]
    components = []
    for comp in page.components:
        ranks = [_RANK.get(states.get(c, "nodata"), 4) for c in comp.checks]
        per_check = [daily[c] for c in dict.fromkeys(comp.checks) if c in daily]
        bars, n_all, ok_all = [], 0, 0
        for day in dates:
            n = ok = 0
            for d in per_check:
                got = d.get(day)
                if got:
                    n, ok = n + got[0], ok + got[1]
            n_all, ok_all = n_all + n, ok_all + ok
            bars.append({"date": day.date().isoformat(), "uptime": ok / n if n else None})
        computed = _STATE[min(ranks) if ranks else 4]
        components.append({"name": comp.name, "description": comp.description,
                           "state": overrides.get(comp.name, computed), "reported": comp.name in overrides,
                           "uptime": ok_all / n_all if n_all else None,
                           "days": bars})
    maintenance = [{"notice": w.notice or "Scheduled maintenance is in progress.",
                    "until": w.end.isoformat() if w.end else None}
                   for w in windows.active(cfg, now) if not w.freeze_only]
    notices: list[dict[str, Any]] = [
        {"id": None, "title": n.title, "body": n.body, "level": n.level,
         "posted_at": n.posted_at.isoformat() if n.posted_at else None, "components": {}}
        for n in page.notices if n.until is None or n.until > now]
    notices += [{"id": n.id, "title": n.message, "body": "", "level": n.status, "posted_at": n.at.isoformat(),
                 "components": n.components} for n in posted]
    states_now = [c["state"] for c in components]
    overall = ("outage" if "outage" in states_now else "degraded" if "degraded" in states_now
               else "operational" if states_now else "unknown")
    return {"schema": "opsbook.status/1", "title": page.title, "description": page.description,
            "overall": overall, "components": components, "maintenance": maintenance, "notices": notices,
            "incidents": current, "history": history, "days": days, "generated_at": now.isoformat()}


def _public_incidents(updates: list[status_updates.UpdateRow],
                      statuses: dict[int, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Incidents with public updates, as the public sees them: (open ones, past ones), newest first.
    One is open while the incident is open and its latest public status is not resolved; it affects
    the components of its latest update that names any."""
    by_incident: dict[int, list[status_updates.UpdateRow]] = {}
    for u in updates:  # oldest first
        if u.incident_id in statuses:
            by_incident.setdefault(u.incident_id, []).append(u)
    current: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for iid, ups in by_incident.items():
        latest = ups[-1]
        is_open = statuses[iid] in OPEN and latest.status != "resolved"
        affected = next((u.components for u in reversed(ups) if u.components), {})
        doc = {"id": iid, "status": latest.status, "message": latest.message, "components": affected,
               "started_at": ups[0].at.isoformat(), "updated_at": latest.at.isoformat(),
               "resolved_at": None if is_open else latest.at.isoformat(),
               "updates": [{"status": u.status, "message": u.message, "at": u.at.isoformat()} for u in reversed(ups)]}
        (current if is_open else history).append(doc)
    for lst in (current, history):
        lst.sort(key=lambda d: d["started_at"], reverse=True)
    return current, history
