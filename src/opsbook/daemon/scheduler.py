"""The scheduler: each tick, claim the due units in the store and start them; log one line.

It only decides *when*. Checks due in the same tick run as one batch through the runner
(``defaults.concurrency`` at once) and are recorded with one ``record_results`` call; jobs
(backups, drills, integrity suites) run through ``opsbook.ops.units`` in worker threads; the
daemon's chores (rule evaluation + notification routing, the notification outbox, history
rollup) run in threads too. Nothing a unit does can stop the loop: an exception becomes the
unit's last error, one log line and a backoff.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..checks.registry import KINDS
from ..config.load import Config
from ..errors import Busy, OpsbookError
from ..ops.units import arun_unit, run_unit
from ..results import CheckResult
from ..runbooks.load import files as runbook_files
from ..runbooks.load import load_all_with_errors
from ..runner import run_checks
from ..store import Flip, Store
from . import leases
from .log import Log
from .schedule import Unit, backoff, first_slot, jitter, next_slot, units_of

BEAT_EVERY = 5.0  # seconds between daemon_instances heartbeats
ALIVE_WITHIN = 30.0  # an instance whose heartbeat is older than this is not counted as alive
FIRST_SPREAD = 1.0  # seconds over which the first runs of new checks are spread
FLUSH = 0.25  # seconds: check results that arrive within this are recorded together
RESCAN = 5.0  # seconds between looks at the runbook directory for added, removed or edited files


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_dict(e: BaseException) -> dict[str, Any]:
    if isinstance(e, OpsbookError):
        return e.to_dict()
    return {"type": type(e).__name__, "message": str(e) or type(e).__name__, "hint": "", "retryable": True}


@dataclass
class Outcome:
    """What finished since the last log line."""

    checks: list[CheckResult] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    chores: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    docs: list[dict[str, Any]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.checks or self.jobs or self.chores or self.errors)


class Scheduler:
    def __init__(self, cfg: Config, store: Store, *, log: Log | None = None, owner: str | None = None,
                 clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None,
                 once: bool = False) -> None:
        self.store = store
        self.once = once  # `serve --once`: a unit that never ran is due now, jobs and checks alike
        self.log = log or Log()
        self.owner = owner or leases.new_instance_id()
        self.clock = clock
        self.rng = rng or random.Random()
        self.cfg = cfg
        self.units: dict[str, Unit] = {}
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.outcome = Outcome()
        self.started = clock()
        self.info: dict[str, Any] = {"instance": self.owner, "started_at": self.started.isoformat()}
        self._last_renew = 0.0
        self._last_beat: datetime | None = None
        self._said: set[str] = set()  # one-time notes ("rules engine not available"), said once
        self._tick_error = ""
        self.apply(cfg, clock())

    # -- config ----------------------------------------------------------------------------------

    def apply(self, cfg: Config, now: datetime) -> None:
        """Use this config from now on: rows for new units, rescheduled rows for changed ones.
        Raises (ConfigError, StoreError) without changing anything when it cannot."""
        units = units_of(cfg)
        tz = cfg.model.serve.timezone
        rows = []
        for u in units:
            if self.once:  # no jitter, no waiting for a cron time: one pass runs whatever never ran
                rows.append((u, now, now))
                continue
            slot = first_slot(u, now, tz)
            delay = jitter(u, slot, cfg.model.serve, self.rng)
            if u.every is not None:  # a fresh start spreads first runs over a second, not over the full jitter
                delay = min(delay, FIRST_SPREAD * self.rng.random())
            rows.append((u, slot, slot + timedelta(seconds=delay)))
        leases.sync_units(self.store, rows)
        self.cfg, self.units = cfg, {u.key: u for u in units}
        _, broken = load_all_with_errors(cfg)  # parsed already by units_of (cached): said once, not scheduled
        for e in broken.values():
            self._once(f"runbook not scheduled: {e.message}")
        self._runbook_files, self._runbooks_seen = _runbook_files(cfg), now

    def runbooks_changed(self) -> bool:
        """Has a runbook file been added, removed or edited since the config was applied? Looked
        at every ``RESCAN`` seconds (a stat of each file): `opsbook serve` then applies its config
        again, so a new or rescheduled routine runbook needs no SIGHUP."""
        now = self.clock()
        if (now - self._runbooks_seen).total_seconds() < RESCAN:
            return False
        self._runbooks_seen = now
        return _runbook_files(self.cfg) != self._runbook_files

    # -- the tick --------------------------------------------------------------------------------

    async def tick(self, now: datetime) -> int:
        """Claim what is due and start it; write the line for what finished. Returns units started.
        Never raises: a store outage is one log line (repeated only when the message changes)."""
        try:
            started = self._tick(now)
            if self._tick_error:
                self.log.info("store reachable again")
                self._tick_error = ""
        except Exception as e:
            msg = f"tick failed: {error_dict(e)['message']}"
            if msg != self._tick_error:
                self.log.error(msg, error=error_dict(e))
                self._tick_error = msg
            started = 0
        self.flush()
        return started

    def _tick(self, now: datetime) -> int:
        serve = self.cfg.model.serve
        self._housekeeping(now)
        free = set(self.units) - set(self.inflight)
        claims = leases.claim_due(self.store, self.owner, free, now, serve.lease)
        checks = [c for c in claims if self.units[c.unit_key].is_check]
        if checks:
            self._start([c.unit_key for c in checks], self._check_batch(self.cfg, checks, now))
        for c in claims:
            if not self.units[c.unit_key].is_check:
                self._start([c.unit_key], self._other(self.cfg, self.units[c.unit_key], c, now))
        return len(claims)

    def _housekeeping(self, now: datetime) -> None:
        serve = self.cfg.model.serve
        mono = time.monotonic()
        if self.inflight and mono - self._last_renew >= serve.lease / 3:
            leases.renew(self.store, self.owner, list(self.inflight), now, serve.lease)
            self._last_renew = mono
        if self._last_beat is None or (now - self._last_beat).total_seconds() >= BEAT_EVERY:
            leases.beat(self.store, self.owner, self.cfg.env or "", self.started, now)
            self._last_beat = now
            alive = leases.alive(self.store, now, ALIVE_WITHIN)
            self.info.update({"instances_alive": len(alive), "instances": alive, "units": len(self.units),
                              "last_tick": now.isoformat()})

    def _start(self, keys: list[str], coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        for k in keys:
            self.inflight[k] = task

        def done(_: asyncio.Task[None]) -> None:
            for k in keys:
                if self.inflight.get(k) is task:
                    del self.inflight[k]

        task.add_done_callback(done)

    # -- running ---------------------------------------------------------------------------------

    async def _check_batch(self, cfg: Config, claims: list[leases.Claim], now: datetime) -> None:
        """Run the due checks together (``defaults.concurrency`` at once). Results are recorded in
        one ``record_results`` call per flush: a batch that finishes within ``FLUSH`` seconds is one
        call; a slow check does not hold the fast ones' results (and next runs) back."""
        pending = {self.units[c.unit_key].name: c for c in claims}
        ready: list[CheckResult] = []

        def on_result(r: CheckResult) -> None:
            # dependencies ran only to judge `blocked`; they are recorded when they are due themselves
            if r.name in pending:
                ready.append(r)

        run = asyncio.get_running_loop().create_task(run_checks(cfg, KINDS, list(pending), on_result=on_result))
        while True:
            await asyncio.wait({run}, timeout=FLUSH)
            batch, ready[:] = ready[:], []
            if batch:
                try:
                    flips = self.store.record_results(batch)
                except Exception as e:
                    for r in batch:
                        self._done(cfg, pending.pop(r.name), now, error=e, label=f"check {r.name}")
                else:
                    self.outcome.checks += batch
                    self.outcome.flips += flips
                    for r in batch:
                        self._done(cfg, pending.pop(r.name), now, status=r.status)
            if run.done():
                break
        if pending:  # the runner itself raised (a bug or a broken kind): every unfinished check errors
            error = run.exception() or RuntimeError("the runner returned no result")
            for name, c in pending.items():
                self._done(cfg, c, now, error=error, label=f"check {name}")

    async def _other(self, cfg: Config, unit: Unit, claim: leases.Claim, now: datetime) -> None:
        t0 = time.monotonic()
        label = f"{unit.kind} {unit.name}"
        try:
            summary = await asyncio.to_thread(self._work, cfg, unit, now)
        except Exception as e:
            self._done(cfg, claim, now, error=e, label=label, took=time.monotonic() - t0)
            return
        took = time.monotonic() - t0
        status = str(summary.get("status", "pass"))
        if unit.kind in ("backup", "drill", "integrity", "runbook"):
            verdict = "ok" if summary.get("ok", True) else status
            if unit.kind == "runbook":  # the run id says where to look: `opsbook runbook record RUN`
                verdict += f" (run {summary.get('run')})"
            self.outcome.jobs.append(f"{label} {verdict} in {took:.1f}s")
            self.outcome.docs.append({"kind": unit.kind, "name": unit.name, "status": status,
                                      "ok": bool(summary.get("ok", True)), "seconds": round(took, 3)})
        elif summary.get("note"):
            self.outcome.chores.append(f"{unit.kind}: {summary['note']}")
        self._done(cfg, claim, now, status=status)

    def _work(self, cfg: Config, unit: Unit, now: datetime) -> dict[str, Any]:
        """One job or chore, in a worker thread with its own store connection."""
        store = Store.open(self.store.url, migrate=False)
        try:
            if unit.kind == "rules":
                return self._rules(cfg, store, now)
            if unit.kind == "outbox":
                return self._outbox(cfg, store, now)
            if unit.kind == "rollup":
                return self._rollup(cfg, store, now)
            if unit.kind == "escalation":
                return self._escalation(cfg, store, now)
            return run_unit(cfg, store, unit.kind, unit.name, now)
        finally:
            store.close()

    async def run_now(self, kind: str, name: str) -> dict[str, Any]:
        """A manual run (the API's run-now): the same operation as a scheduled run, under the unit's
        lease like a scheduled run, so the two never overlap; ``Busy`` when the unit is running now.
        The lease is renewed with the scheduler's own while it runs; the schedule is left as it was."""
        key = Unit(kind, name, self.cfg.env or "").key
        if key in self.inflight:
            raise Busy(f"{kind} {name} is running now", hint="wait for it to finish, then run it again")
        taken = await asyncio.to_thread(self._take, key)
        if taken is False:
            raise Busy(f"{kind} {name} is running now (another instance holds its lease)",
                       hint="wait for it to finish, then run it again")
        task = asyncio.current_task()
        if taken and task is not None:
            self.inflight[key] = task  # renewed by _housekeeping; the tick does not claim it
        try:
            return await arun_unit(self.cfg, self.store, kind, name)
        finally:
            if taken:
                if self.inflight.get(key) is task:
                    del self.inflight[key]
                await asyncio.to_thread(self._give_back, key)

    def _take(self, key: str) -> bool | None:
        store = Store.open(self.store.url, migrate=False)
        try:
            return leases.take(store, self.owner, key, self.clock(), self.cfg.model.serve.lease)
        finally:
            store.close()

    def _give_back(self, key: str) -> None:
        store = Store.open(self.store.url, migrate=False)
        try:
            leases.give_back(store, self.owner, key)
        finally:
            store.close()

    def _once(self, note: str) -> None:
        if note not in self._said:
            self._said.add(note)
            self.log.info(note)

    def _rules(self, cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
        from ..notify import pipeline
        from ..rules import engine

        evaluation = engine.evaluate(cfg, store, now)
        for rule, problem in dict(getattr(evaluation, "errors", {}) or {}).items():
            self._once(f"rules: {rule}: {problem}")  # said once per distinct problem, not every 15 s
        alerts = list(getattr(evaluation, "alerts", []))
        summary = pipeline.process(cfg, store, alerts, now)
        firing = sum(1 for a in alerts if a.state == "firing")
        enqueued = int(summary.get("enqueued", 0) or 0)
        note = f"{firing} firing, {enqueued} notification(s) queued" if enqueued else ""
        self.info["alerts_firing"] = firing
        return {"status": "pass", "note": note}

    def _outbox(self, cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
        from ..notify import pipeline

        summary = pipeline.deliver_due(cfg, store, now)
        delivered, failed = int(summary.get("delivered", 0) or 0), int(summary.get("failed", 0) or 0)
        note = f"{delivered} delivered, {failed} failed" if delivered or failed else ""
        return {"status": "pass" if not failed else "fail", "note": note}

    def _escalation(self, cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
        from ..ops import escalation

        steps = escalation.step(store, cfg, now, self.owner)
        for s in steps:
            if s.action == "error":  # one incident's failure; the others fired. Said once, not every 5 s
                self._once(f"escalation: incident {s.incident_id} level {s.level}: {s.reason}")
        fired = [f"incident {s.incident_id} level {s.level}" for s in steps if s.action == "fired"]
        return {"status": "pass", "note": f"escalated {', '.join(fired)}" if fired else ""}

    def _rollup(self, cfg: Config, store: Store, now: datetime) -> dict[str, Any]:
        from ..store import rollup

        summary = rollup.rollup_and_prune(store, cfg, now)
        pruned = {k: v for k, v in dict(summary).items() if isinstance(v, int) and v}
        return {"status": "pass", "note": ", ".join(f"{k} {v}" for k, v in pruned.items())}

    def _done(self, cfg: Config, claim: leases.Claim, started: datetime, *, status: str = "pass",
              error: BaseException | None = None, label: str = "", took: float | None = None) -> None:
        """Schedule the unit's next run and drop the lease; an error backs the unit off."""
        unit = self.units.get(claim.unit_key) or next(u for u in units_of(cfg) if u.key == claim.unit_key)
        serve = cfg.model.serve
        now = self.clock()
        slot = next_slot(unit, claim.slot, now, serve.timezone)
        due = slot + timedelta(seconds=jitter(unit, slot, serve, self.rng))
        failures, err = 0, None
        if error is not None:
            failures, err, status = claim.failures + 1, error_dict(error), "error"
            delay = backoff(failures, serve)
            due = max(due, now + timedelta(seconds=delay))
            took_s = f" after {took:.1f}s" if took is not None else ""
            self.outcome.errors.append(f"{label} error{took_s}: {err['message']} (retry in {delay:g}s, "
                                       f"{failures} error(s) in a row)")
        try:
            kept = leases.finish(self.store, self.owner, claim.unit_key, slot=slot, due=due, now=now,
                                 status=status, error=err, failures=failures)
        except Exception as e:  # the store is down: the lease expires and the unit runs again
            self.outcome.errors.append(f"{claim.unit_key}: could not record the finish: {error_dict(e)['message']}")
            return
        if not kept:
            self.outcome.errors.append(f"{claim.unit_key}: lease lost (it expired and another instance took over)")

    # -- the log line ----------------------------------------------------------------------------

    def flush(self) -> None:
        o, self.outcome = self.outcome, Outcome()
        if o.empty():
            return
        parts = []
        if o.checks:
            bad = sum(1 for r in o.checks if not r.ok)
            s = f"ran {len(o.checks)} check{'s' if len(o.checks) != 1 else ''}" + (f" ({bad} fail)" if bad else "")
            flips = [f for f in o.flips if f.from_status is not None]  # a first result is not a flip
            if flips:
                s += f", {len(flips)} flip{'s' if len(flips) != 1 else ''}: "
                s += ", ".join(f"{f.check} {f.from_status}->{f.to_status}" for f in flips)
            parts.append(s)
        if o.jobs:
            parts.append(f"{len(o.jobs)} job{'s' if len(o.jobs) != 1 else ''}: " + ", ".join(o.jobs))
        parts += o.chores + o.errors
        fields: dict[str, Any] = {
            "checks": len(o.checks), "failed": sum(1 for r in o.checks if not r.ok),
            "flips": [f.to_dict() for f in o.flips if f.from_status is not None],
            "jobs": o.docs, "errors": o.errors,
        }
        (self.log.warn if o.errors else self.log.info)("; ".join(parts), **fields)

    # -- stopping --------------------------------------------------------------------------------

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the work in flight (at most ``timeout`` seconds); True when all of it finished."""
        tasks = set(self.inflight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                self.log.warn(f"drain: {len(self.inflight)} unit(s) still running after {timeout:g}s; "
                              "their leases expire and another instance takes them over",
                              units=sorted(self.inflight))
                self.flush()
                return False
        self.flush()
        return True

    def abandon(self) -> None:
        """Give up the work still running after the drain timeout: drop this process's leases and
        outbox claims so the next process retries it at once instead of when they expire."""
        try:
            leases.release(self.store, self.owner)
            from ..notify import outbox, pipeline
            from ..ops import escalation

            outbox.release(self.store, pipeline.worker_id())
            escalation.release(self.store, self.owner)
        except Exception as e:  # the store is down: the leases and claims expire on their own
            self.log.warn(f"could not release this instance's leases: {error_dict(e)['message']}")

    def close(self) -> None:
        try:
            leases.forget(self.store, self.owner)
        except Exception as e:
            self.log.warn(f"could not remove this instance's row: {error_dict(e)['message']}")


def _runbook_files(cfg: Config) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime, size) of each runbook file: what tells an edit, an addition or a removal."""
    out = []
    for p in runbook_files(cfg):
        try:
            st = p.stat()
        except OSError:  # removed between the listing and the stat: the next look sees it gone
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)
