"""The release registry and rollback: ``record`` (idempotent per service+version+env, for CI),
``listing``, ``show``, ``current`` and ``rollback`` (run the service's rollback command or
runbook, then its verify gates, and keep the outcome). The CLI (cli/release.py) and the API
(web/api_releases.py) call these; the rows live in store/releases.py.

Which release is current is a status, not an order: recording a release supersedes the one
deployed before it; a rollback marks the release it left ``rolled_back`` and the one it went to
``deployed`` again. A rollback whose command or verification fails is kept as such (event
``rollback_finished`` with ``outcome`` ``rollback_failed`` or ``verification_failed``): the deploy
gate reads it (ops/deploy_gate.py) and the DORA statistics count it (ops/release_stats.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.references import missing
from ..errors import OpsbookError, ReleaseConflict, UsageError
from ..results import utcnow
from ..store import Store
from ..store import releases as rows
from .record import Recorder

if TYPE_CHECKING:
    from ..config.load import Config
    from ..config.releases import Service

SCHEMA = "opsbook.release/1"
# a name or version becomes a command argument: no leading dash (an option), no spaces or shell text
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+:@/-]{0,199}$")
_COMMIT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FIELDS = ("commit", "committed_at", "url")  # compared when a record is repeated
OUTPUT_KEPT = 4096  # the tail of a rollback command's output kept in its event


def _check_name(what: str, value: str, pattern: re.Pattern[str], example: str) -> None:
    if not pattern.match(value):
        raise UsageError(f"{what} {value!r} is not valid",
                         hint=f"letters, digits and . _ - (not first), e.g. {example}")


def service_config(cfg: Config, service: str) -> Service | None:
    """The service's settings; a UsageError (did you mean) when services are listed and it is not."""
    services = cfg.model.releases.services
    if services and service not in services:
        msg, hint = missing("service", service, services, "services (releases.services)")
        raise UsageError(msg, hint=hint)
    return services.get(service)


def _check_env(svc: Service | None, service: str, env: str) -> None:
    if svc is not None and svc.environments and env not in svc.environments:
        msg, hint = missing("environment", env, svc.environments, f"environments of {service}")
        raise UsageError(f"{service} is not released to {env!r}: {msg}", hint=hint)


@dataclass(frozen=True)
class Recorded:
    release: rows.ReleaseRow
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "created": self.created, "release": self.release.to_dict()}


def record(store: Store, cfg: Config, *, service: str, version: str, env: str, by: str, now: datetime,
           commit: str | None = None, committed_at: datetime | None = None, url: str | None = None) -> Recorded:
    """Record a deploy. The same service+version+env again is not an error (CI re-runs): the row
    is returned with ``created`` False; but if it disagrees on commit, commit time or URL that is a
    UsageError naming the fields (exit 2): one version cannot be two builds."""
    _check_name("service", service, _SERVICE, "api")
    _check_name("version", version, _VERSION, "v1.4.2")
    _check_name("environment", env, _SERVICE, "production")
    svc = service_config(cfg, service)
    _check_env(svc, service, env)
    if commit is not None and not _COMMIT.match(commit):
        raise UsageError(f"--commit {commit[:80]!r} is not a commit id",
                         hint="letters and digits, up to 64, e.g. a SHA")
    if url is not None and (len(url) > 2000 or not url.lower().startswith(("https://", "http://"))):
        # it becomes a link on the dashboard: no javascript: or data: URLs
        raise UsageError(f"--url {url[:80]!r} is not an http(s) URL", hint="e.g. https://ci.example.com/runs/42")
    if len(by) > 200:
        raise UsageError("--by is longer than 200 characters")
    if committed_at is not None and committed_at > now:
        raise UsageError(f"--committed-at {committed_at.isoformat()} is in the future")
    with store.transaction() as tx:
        row = rows.insert(tx, service=service, version=version, env=env, commit=commit, committed_at=committed_at,
                          by=by, url=url, at=now)
        if row is not None:
            rows.supersede_others(tx, service, env, row.id, now)
            rows.add_event(tx, release_id=row.id, service=service, env=env, at=now, kind="recorded", actor=by,
                           detail={"version": version})
            return Recorded(row, True)
        old = rows.get(tx, service, version, env)
    assert old is not None
    given = {"commit": commit, "committed_at": committed_at, "url": url}
    have = {"commit": old.commit, "committed_at": old.committed_at, "url": old.url}
    differ = [k for k in _FIELDS if given[k] is not None and given[k] != have[k]]
    if differ:
        shown = "; ".join(f"{k}: recorded {have[k]!s}, given {given[k]!s}" for k in differ)
        raise UsageError(f"{service} {version} in {env} is already recorded with other {', '.join(differ)} ({shown})",
                         hint="a version is one build: record the new build under a new version")
    return Recorded(old, False)


def listing(store: Store, *, service: str | None = None, env: str | None = None, since: datetime | None = None,
            limit: int = 200) -> list[rows.ReleaseRow]:
    with store.read() as tx:
        return rows.listing(tx, service=service, env=env, since=since, limit=limit)


def show(store: Store, service: str, version: str) -> tuple[list[rows.ReleaseRow], list[rows.EventRow]]:
    """The version's release in every environment, and their events; UsageError when none."""
    with store.read() as tx:
        found = rows.of_version(tx, service, version)
        if not found:
            versions = [r.version for r in rows.listing(tx, service=service, limit=200)]
            msg, hint = missing(f"release of {service}", version, versions, f"versions of {service}")
            raise UsageError(msg, hint=hint or "`opsbook release list` lists them")
        return found, rows.events_of(tx, [r.id for r in found])


def current(store: Store, service: str, env: str) -> rows.ReleaseRow | None:
    with store.read() as tx:
        return rows.current(tx, service, env)


# -- rollback ------------------------------------------------------------------------------------


@dataclass
class Gate:
    gate: str  # ready | smoke | checks
    name: str
    ok: bool
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "name": self.name, "ok": self.ok, "summary": self.summary}


@dataclass
class Rollback:
    service: str
    env: str
    from_version: str
    to_version: str
    how: str  # command | runbook
    outcome: str  # ok | rollback_failed | verification_failed
    message: str
    exit_code: int | None = None
    output: str = ""
    runbook_run: int | None = None
    verify: list[Gate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "opsbook.release-rollback/1", "service": self.service, "env": self.env,
                "from": self.from_version, "to": self.to_version, "how": self.how, "ok": self.ok,
                "outcome": self.outcome, "message": self.message, "exit_code": self.exit_code, "output": self.output,
                "runbook_run": self.runbook_run, "verify": [g.to_dict() for g in self.verify]}


@dataclass(frozen=True)
class Plan:
    service: str
    env: str
    current: rows.ReleaseRow
    target: rows.ReleaseRow
    svc: Service


def plan(store: Store, cfg: Config, service: str, to: str, env: str) -> Plan:
    """What ``rollback`` would do, checked before anything runs (the CLI shows it to confirm)."""
    svc = service_config(cfg, service)
    if svc is None or svc.rollback is None:
        raise UsageError(f"service {service!r} has no rollback configured",
                         hint=f"add releases: services: {service}: rollback: {{command: ...}} or {{runbook: NAME}}")
    _check_env(svc, service, env)
    with store.read() as tx:
        cur = rows.current(tx, service, env)
        if cur is None:
            raise UsageError(f"no release of {service} in {env} is recorded",
                             hint="`opsbook release record` records one (in CI, after each deploy)")
        if to == "previous":
            older = [r for r in rows.listing(tx, service=service, env=env, until=cur.recorded_at, limit=200)
                     if r.id != cur.id and r.status == "superseded" and r.recorded_at <= cur.recorded_at]
            if not older:
                raise UsageError(f"{service} in {env} has no previous good release to go back to",
                                 hint="name one: --to VERSION (`opsbook release list` lists them)")
            target = older[0]
        else:
            _check_name("version", to, _VERSION, "v1.4.1")
            got = rows.get(tx, service, to, env)
            if got is None:
                versions = [r.version for r in rows.listing(tx, service=service, env=env, limit=200)]
                msg, hint = missing(f"release of {service} in {env}", to, versions, "versions recorded")
                raise UsageError(msg, hint=hint)
            target = got
    if target.id == cur.id:
        raise UsageError(f"{service} {to} is already the current release in {env}")
    return Plan(service, env, cur, target, svc)


def rollback(store: Store, cfg: Config, p: Plan, actor: str, rec: Recorder, *,
             clock: Callable[[], datetime] = utcnow, say: Callable[[str], None] | None = None) -> Rollback:
    """Run the rollback of ``p``, then its verify gates, and record all of it. Never raises for a
    failing command or gate: the result says so (``ok`` False) and the events keep it. The current
    release is claimed first (``deployed`` -> ``rolling_back``, compare-and-set): a second
    rollback started meanwhile gets ReleaseConflict and runs nothing."""
    assert p.svc.rollback is not None
    tell = say or (lambda _: None)
    how = "command" if p.svc.rollback.command is not None else "runbook"
    base = {"from": p.current.version, "to": p.target.version, "how": how}
    with store.transaction() as tx:
        if rows.move(tx, p.current.id, "deployed", "rolling_back", clock()) is None:
            raise ReleaseConflict(f"{p.service} {p.current.version} in {p.env} is not the deployed release any more",
                                  hint="another rollback is running, or a release went out: "
                                       "`opsbook release list` shows where it is")
        rows.add_event(tx, release_id=p.current.id, service=p.service, env=p.env, at=clock(), kind="rollback_started",
                       actor=actor, detail=base)
    tell(f"rolling {p.service} back in {p.env}: {p.current.version} -> {p.target.version} ({how})")
    result = Rollback(p.service, p.env, p.current.version, p.target.version, how, "rollback_failed", "")
    try:
        _run(store, cfg, p, actor, rec, clock, tell, result)
    except BaseException as e:  # interrupted or broken: never leave the release claimed
        result.outcome = "rollback_failed"
        result.message = f"did not finish: {e.message if isinstance(e, OpsbookError) else type(e).__name__}"
        raise
    finally:
        _finish(store, p, actor, clock, base, result)
        rec.record("rollback", p.service, ok=result.ok, detail=result.to_dict())
    return result


def _run(store: Store, cfg: Config, p: Plan, actor: str, rec: Recorder, clock: Callable[[], datetime],
         tell: Callable[[str], None], result: Rollback) -> None:
    from .release_run import run_command, run_runbook, verify

    assert p.svc.rollback is not None
    if result.how == "command":
        res = run_command(cfg, p.svc.rollback, p.target.version, p.env)
    else:
        res = run_runbook(store, cfg, p.svc.rollback, p.target.version, p.env, actor, clock)
    result.message, result.exit_code, result.output, result.runbook_run = (res.message, res.exit_code, res.output,
                                                                           res.runbook_run)
    if not res.ok:
        return
    result.outcome = "ok"
    now = clock()
    with store.transaction() as tx:
        rows.move(tx, p.current.id, "rolling_back", "rolled_back", now)
        rows.move(tx, p.target.id, p.target.status, "deployed", now)
        rows.supersede_others(tx, p.service, p.env, p.target.id, now)
    tell(f"rollback done: {res.message}; verifying")
    result.verify = verify(cfg, p.svc.verify, rec, tell)
    failed = [g for g in result.verify if not g.ok]
    if failed:
        result.outcome = "verification_failed"
        result.message = "verification failed: " + "; ".join(f"{g.gate} {g.name}: {g.summary}" for g in failed)


def _finish(store: Store, p: Plan, actor: str, clock: Callable[[], datetime], base: dict[str, Any],
            result: Rollback) -> None:
    with store.transaction() as tx:
        # a rollback that did not run through leaves the release it started from current
        rows.move(tx, p.current.id, "rolling_back", "deployed", clock())
        if result.verify:
            rows.add_event(tx, release_id=p.target.id, service=p.service, env=p.env, at=clock(), kind="verify",
                           actor=actor, detail={"ok": all(g.ok for g in result.verify),
                                                "gates": [g.to_dict() for g in result.verify]})
        rows.add_event(tx, release_id=p.current.id, service=p.service, env=p.env, at=clock(),
                       kind="rollback_finished", actor=actor,
                       detail={**base, "to_release_id": p.target.id, "outcome": result.outcome,
                               "message": result.message, "exit_code": result.exit_code,
                               "output": result.output[-OUTPUT_KEPT:], "runbook_run": result.runbook_run})
