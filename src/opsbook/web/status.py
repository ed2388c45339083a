"""The public status page as data: chosen components, their state, daily uptime, maintenance and
notices. Only names the config chose for the public are shown: no check names, hostnames, URLs,
errors or DSNs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..rules import maintenance as windows
from ..store import checks, rollup
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
        components.append({"name": comp.name, "description": comp.description,
                           "state": _STATE[min(ranks) if ranks else 4], "uptime": ok_all / n_all if n_all else None,
                           "days": bars})
    maintenance = [{"notice": w.notice or "Scheduled maintenance is in progress.",
                    "until": w.end.isoformat() if w.end else None}
                   for w in windows.active(cfg, now)]
    notices = [{"title": n.title, "body": n.body, "level": n.level,
                "posted_at": n.posted_at.isoformat() if n.posted_at else None}
               for n in page.notices if n.until is None or n.until > now]
    states_now = [c["state"] for c in components]
    overall = ("outage" if "outage" in states_now else "degraded" if "degraded" in states_now
               else "operational" if states_now else "unknown")
    return {"schema": "opsbook.status/1", "title": page.title, "description": page.description,
            "overall": overall, "components": components, "maintenance": maintenance, "notices": notices,
            "days": days, "generated_at": now.isoformat()}
