"""What the pages and the API show, as plain data read from the config and the store.

Rendering (JSON, HTML, metrics) lives in api.py, pages.py, metrics.py; they all call here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..config.secrets import redactor
from ..results import CheckResult
from ..store import checks as checks_store
from ..store import rollup
from ..store.db import parse_ts
from ..store.store import Store, StoredState

WINDOWS = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"),
           "30d": (timedelta(days=30), "day")}


@dataclass
class CheckRow:
    name: str
    env: str
    kind: str
    description: str
    labels: dict[str, str]
    status: str  # pass|warn|fail|error|blocked|nodata
    since: datetime | None
    updated_at: datetime | None
    last_error: dict[str, Any] | None
    uptime: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # the free-form parts redacted; kind, status, times and numbers cannot hold a secret
        r = redactor
        return {
            "name": r.text(self.name), "env": r.text(self.env), "kind": self.kind,
            "description": r.text(self.description), "labels": r.redact(self.labels), "status": self.status,
            "since": self.since.isoformat() if self.since else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "last_error": r.redact(self.last_error), "uptime": dict(self.uptime),
        }


def _kinds(cfg: Config) -> dict[str, str]:
    """Every check's kind; pydantic attribute walks cost ~60 us a check, so kept per config object."""
    return cfg.derived("web.check-kinds", lambda: {n: c.kind_and_params()[0] for n, c in cfg.checks.items()})


def kind_of(cfg: Config, name: str) -> str:
    return _kinds(cfg).get(name, "")


def check_rows(cfg: Config, store: Store, now: datetime, with_uptime: bool = True) -> list[CheckRow]:
    """Every configured check, once per environment it has results in (or the config's env).

    One read transaction (a consistent snapshot that takes no write lock): the states, then the
    uptime of every check over 24h / 7d / 30d from grouped sums (``rollup.uptime_windows``)."""
    with store.read() as tx:
        states = {(s.check, s.env): s for s in checks_store.states(tx, ordered=False)}
        totals: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
        if with_uptime:
            windows = {w: (now - span, level) for w, (span, level) in WINDOWS.items()}
            totals = rollup.uptime_windows(tx, windows, rollup.watermarks_tx(tx))
    checks = cfg.checks
    keys = {k for k in states if k[0] in checks}
    seen = {k[0] for k in keys}
    keys |= {(name, cfg.env or "") for name in checks if name not in seen}
    kinds = _kinds(cfg)
    windows_totals = list(totals.items())
    rows = []
    for name, env in sorted(keys, key=lambda k: (k[1], k[0])):
        check = checks[name]
        st = states.get((name, env))
        rows.append(CheckRow(
            name=name, env=env, kind=kinds.get(name, ""), description=check.description, labels=check.labels,
            status=st.status if st else "nodata", since=st.since if st else None,
            updated_at=st.updated_at if st else None, last_error=st.last_error if st else None,
            uptime={w: _ratio(t.get((name, env))) for w, t in windows_totals},
        ))
    return rows


def _ratio(counts: tuple[int, int] | None) -> float | None:
    return counts[1] / counts[0] if counts and counts[0] else None


def find_state(store: Store, name: str, env: str) -> StoredState | None:
    return next((s for s in store.states(env) if s.check == name), None)


def history(store: Store, name: str, env: str, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
    """Raw results newest first, each with its store id (the cursor for ``before``)."""
    with store.read() as tx:
        rows = checks_store.result_page(tx, name, env, limit, before)
    return [{"id": i, **redactor.redact(doc)} for i, doc in rows]


def last_failure(store: Store, name: str, env: str) -> CheckResult | None:
    """The newest stored result that did not pass, with its assertions and observations."""
    with store.read() as tx:
        doc = checks_store.last_failure(tx, name, env)
    return CheckResult.from_dict(redactor.redact(doc)) if doc else None


def excerpt(observations: dict[str, Any], limit: int = 2000) -> str:
    """The response (or output) excerpt of a result: the first ``limit`` characters."""
    for key in ("body", "stdout", "output", "stderr"):
        v = observations.get(key)
        if isinstance(v, str) and v:
            return redactor.text(v[:limit] + ("…" if len(v) > limit else ""))
    return ""


def latest_results(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """The last stored result document of every check (for /metrics' phase timings)."""
    with store.read() as tx:
        return checks_store.latest_documents(tx)


def runs(store: Store, kind: str | None, name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for r in store.runs(kind=kind, name=name, limit=limit):
        r["started_at"] = r["started_at"].isoformat()
        r["finished_at"] = r["finished_at"].isoformat() if r["finished_at"] else None
        out.append(redactor.redact(r))
    return out


def backups(cfg: Config, store: Store, now: datetime) -> list[dict[str, Any]]:
    """Per configured backup: its last runs, newest first, with age; and the last drill of it."""
    drills_of: dict[str, list[str]] = {}
    for dname, d in cfg.model.drills.items():
        drills_of.setdefault(getattr(d, "backup", ""), []).append(dname)
    out = []
    for name in cfg.model.backups:
        rs = runs(store, "backup", name, limit=20)
        last_ok = next((r for r in rs if r["ok"]), None)
        drill_runs = [r for d in drills_of.get(name, []) for r in runs(store, "drill", d, limit=1)]
        last_drill = max(drill_runs, key=lambda r: r["started_at"], default=None)
        age = None
        if last_ok:
            created = (last_ok["detail"] or {}).get("created_at") or last_ok["finished_at"]
            age = (now - parse_ts(created)).total_seconds()
        out.append({"name": name, "runs": rs, "last_ok": last_ok, "age_s": age, "last_drill": last_drill})
    return out


def drills(cfg: Config, store: Store) -> list[dict[str, Any]]:
    out = []
    for name, d in cfg.model.drills.items():
        rs = runs(store, "drill", name, limit=50)
        out.append({"name": name, "backup": getattr(d, "backup", ""), "rto_target_s": getattr(d, "rto_target", None),
                    "runs": rs})
    return out


def as_dict(obj: Any) -> Any:
    """Rules/notify objects carry to_dict(); dicts and lists pass through."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, list | tuple):
        return [as_dict(o) for o in obj]
    return obj
