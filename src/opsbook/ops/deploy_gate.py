"""``opsbook gate deploy``: may a deploy go out now? What the seeds' freeze policies say, combined:
refused while an error budget is past its threshold (the budget gate, its overrides included), an
incident of a blocking severity is open, a maintenance window with ``freeze: true`` is on, the
last rollout of the service failed, or a rollback of it is running. Every refusal names its
reason; ``override`` lets the deploy through and is recorded (who, why, what it overrode) as a
release event and in the gate's run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.releases import block_severities
from ..errors import OpsbookError
from ..store import Store, rollouts
from ..store import incidents as incident_rows
from ..store import releases as rows
from .record import Recorder

if TYPE_CHECKING:
    from ..config.load import Config

SCHEMA = "opsbook.gate-deploy/1"
REASONS = ("budget", "incident", "freeze", "failed_rollout", "rollback_running")


@dataclass(frozen=True)
class Refusal:
    reason: str  # one of REASONS
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message}


@dataclass
class DeployVerdict:
    env: str
    service: str | None
    refusals: list[Refusal] = field(default_factory=list)
    override: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.refusals or self.override is not None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "env": self.env, "service": self.service, "ok": self.ok,
                "refusals": [r.to_dict() for r in self.refusals], "override": self.override}


def _budget(cfg: Config, store: Store, now: datetime) -> list[Refusal]:
    from ..rules import budget as policy

    gate = cfg.model.releases.gate
    out = []
    for slo in gate.slos if gate.slos is not None else list(cfg.model.slos):
        try:
            v = policy.check(cfg, store, slo, now)
        except OpsbookError as e:  # cannot tell: a gate that cannot measure does not pass
            out.append(Refusal("budget", f"SLO {slo}: cannot evaluate its budget: {e.message}"))
            continue
        if not v.ok:
            out.append(Refusal("budget", f"SLO {slo}: {v.message}"))
    return out


def _incidents(cfg: Config, store: Store, service: str | None) -> list[Refusal]:
    blocking = block_severities(cfg.model.releases, cfg.model.incidents.severity_names)
    svc = cfg.model.releases.services.get(service) if service else None
    mine = set(svc.components) if svc else set()
    with store.read() as tx:
        opened = incident_rows.listing(tx, incident_rows.OPEN, None, 1000)
    out = []
    for inc in reversed(opened):
        if inc.severity not in blocking:
            continue
        # an incident naming components blocks the services made of them; one naming none, all
        if mine and inc.components and not mine & set(inc.components):
            continue
        out.append(Refusal("incident", f"incident {inc.id} ({inc.severity}, {inc.status}) is open: {inc.title}"))
    return out


def _freezes(cfg: Config, now: datetime) -> list[Refusal]:
    from ..rules import maintenance

    return [Refusal("freeze", f"maintenance freeze {w.name} is on" + (f": {w.notice}" if w.notice else ""))
            for w in maintenance.active(cfg, now) if w.freeze]


def _last_canary_failed(cfg: Config, store: Store, service: str, env: str) -> str | None:
    names = [n for n, c in cfg.model.canaries.items() if c.service == service]
    if not names:
        return None
    with store.read() as tx:
        last = [r for n in names for r in rollouts.latest(tx, n, limit=5) if r.env in (env, None)]
        last = [r for r in last if r.status != "running"]
        if not last:
            return None
        newest = max(last, key=lambda r: r.started_at)
        if newest.status == "promoted":
            return None
        newer = rows.listing(tx, service=service, env=env, since=newest.started_at, limit=1)
    if newer and newer[0].recorded_at > newest.started_at:
        return None
    return (f"the last canary rollout of {service} (canary {newest.canary}, rollout #{newest.id}, "
            f"{newest.started_at.isoformat()}) ended {newest.status}: {newest.reason}")


def _last_rollout_failed(cfg: Config, store: Store, service: str, env: str) -> str | None:
    """Why the last rollout of ``service`` in ``env`` counts as failed, or None. Today a rollout is
    what opsbook ran for it: the newest rollback, failed when its command or its verification did.
    A release recorded after that rollback clears it (a fix went out). The newest canary rollout of
    a canary naming the service (``canaries.NAME.service``) counts too: rolled back, aborted or
    could not measure blocks until a release is recorded after it."""
    rollout = _last_canary_failed(cfg, store, service, env)
    if rollout is not None:
        return rollout
    with store.read() as tx:
        last = rows.events(tx, service=service, env=env, kinds=("rollback_finished",), limit=1)
        if not last or last[0].detail.get("outcome") == "ok":
            return None
        newer = rows.listing(tx, service=service, env=env, since=last[0].at, limit=1)
    ev = last[0]
    if newer and newer[0].recorded_at > ev.at:
        return None
    d = ev.detail
    return (f"the last rollback of {service} in {env} ({d.get('from')} -> {d.get('to')}, {ev.at.isoformat()}) "
            f"failed: {d.get('outcome')}: {d.get('message')}")


def _rolling_back(store: Store, services: list[str], env: str) -> list[Refusal]:
    """A rollback running now (its release claimed ``rolling_back``): a deploy on top of it would
    race the rollback's command and verification."""
    with store.read() as tx:
        found = [(s, rows.current(tx, s, env)) for s in services]
    return [Refusal("rollback_running", f"a rollback of {s} in {env} is running: from {r.version} since "
                                        f"{r.status_at.isoformat()}")
            for s, r in found if r is not None and r.status == "rolling_back"]


def _services(cfg: Config, store: Store, env: str) -> list[str]:
    with store.read() as tx:
        seen = {r.service for r in rows.listing(tx, env=env, limit=1000)}
    return sorted(seen | set(cfg.model.releases.services))


def check(cfg: Config, store: Store, rec: Recorder, env: str, now: datetime, *, service: str | None = None,
          override: str | None = None, by: str = "unknown") -> DeployVerdict:
    """The verdict, recorded as the gate's run; an ``override`` (a reason) is kept as a release
    event even when nothing was refused, so the record shows who pushed through and why."""
    from .release import service_config

    if service is not None:
        service_config(cfg, service)  # a misspelt name is bad input, not a pass
    v = DeployVerdict(env, service)
    v.refusals += _budget(cfg, store, now)
    v.refusals += _incidents(cfg, store, service)
    v.refusals += _freezes(cfg, now)
    names = [service] if service else _services(cfg, store, env)
    v.refusals += _rolling_back(store, names, env)
    if cfg.model.releases.gate.block_on_failed_rollout:
        for s in names:
            why = _last_rollout_failed(cfg, store, s, env)
            if why:
                v.refusals.append(Refusal("failed_rollout", why))
    if override is not None:
        v.override = {"reason": override, "by": by, "at": now.isoformat(),
                      "overrode": [r.to_dict() for r in v.refusals]}
        with store.transaction() as tx:
            rows.add_event(tx, release_id=None, service=service or "*", env=env, at=now, kind="gate_override",
                           actor=by, detail=v.override)
    rec.record("gate", "deploy", ok=v.ok, detail=v.to_dict(), status="pass" if v.ok else "fail")
    return v
