"""Replay events and keep the record: ``run``, ``resume``, ``report``, ``runs``. The CLI
(cli/replay.py) calls these.

A run streams its source through the sender (opsbook/replay/), and every ``FLUSH_AT`` outcomes
or ``tick`` seconds writes them in one transaction with the run's counts, heartbeat and cursor
(store/replay_runs.py). The cursor is the last event up to which every event has an outcome, with
where the source was after it: a resume starts the source there (an ordered query, files) or
counts past it (a command, an unordered query), and skips the few events beyond it that were
delivered already, so nothing recorded delivered is sent twice. An event sent but not yet
recorded when the runner was killed is sent again: the idempotency key lets the receiver drop it.

``resume(..., retry_failed=True)`` then reads the source again from the start of the run's window
and sends, once each, the events up to the old cursor whose latest outcome is ``failed``: each
outcome updates that event's row in place (attempts added), so the record keeps one row per event.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config.references import missing
from ..config.replay import Replay
from ..config.resources import HttpResource
from ..config.secrets import REDACTED, redactor, reveal
from ..errors import CouldNotRun, ReplayConflict, UsageError
from ..replay.event import Event, Fields
from ..replay.sender import Delivery, Sender, Settings
from ..replay.signing import signer
from ..replay.sources import open_source
from ..results import utcnow
from ..store import Store
from ..store import replay_runs as rows

if TYPE_CHECKING:
    from ..config.load import Config

STALE_AFTER = 30.0  # seconds without a heartbeat after which a running run's runner is taken for dead
FLUSH_AT = 500  # outcomes per transaction
SAMPLES = 3
MAX_KEY = 500
RESUMABLE = ("interrupted", "stopped", "failed")

Progress = Callable[[dict[str, int]], None]


@dataclass
class Plan:
    name: str
    spec: Replay
    settings: Settings
    fields: Fields


@dataclass
class Report:
    run: rows.RunRow | None  # None for a dry-run: nothing is recorded
    counts: dict[str, int]
    failures: list[rows.EventRow] = field(default_factory=list)
    rate: float | None = None  # events with an outcome per second of sending
    samples: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False


def plan(cfg: Config, name: str) -> Plan:
    """The replay named ``name``, its target and signer resolved (bad input raises UsageError)."""
    specs: dict[str, Replay] = cfg.model.replay
    spec = specs.get(name)
    if spec is None:
        msg, hint = missing("replay", name, specs)
        raise UsageError(msg, hint=hint or "define it under replay: in the config")
    res = cfg.resources.get(spec.target.resource)
    if not isinstance(res, HttpResource):  # the loader checked it; a narrowed type for mypy
        raise UsageError(f"replay.{name}.target.resource: {spec.target.resource!r} is not an http resource")
    headers = {k: reveal(v, f"resources.{spec.target.resource}.headers.{k}") or "" for k, v in res.headers.items()}
    if res.auth and res.auth.bearer is not None:
        headers["Authorization"] = f"Bearer {reveal(res.auth.bearer, 'auth.bearer')}"
    elif res.auth and res.auth.basic is not None:
        pw = reveal(res.auth.basic.password, "auth.basic.password") or ""
        token = base64.b64encode(f"{res.auth.basic.username}:{pw}".encode()).decode()
        redactor.add(token)
        headers["Authorization"] = f"Basic {token}"
    headers.setdefault("Content-Type", spec.target.content_type)
    url = res.url.rstrip("/") + "/" + spec.target.path.lstrip("/")
    src = spec.source.sql or spec.source.jsonl or spec.source.command
    assert src is not None
    idem = spec.idempotency
    fields = Fields(src.key, spec.order_key, (idem.field or src.key) if idem else None,
                    getattr(src, "time_field", None))
    settings = Settings(url=url, method=spec.target.method, sign=signer(spec.signature, f"replay.{name}.signature"),
                        headers=headers, idempotency_header=idem.header if idem else None,
                        concurrency=spec.concurrency, rate=spec.rate, retries=spec.retries, timeout=spec.timeout,
                        verify=res.verify)
    return Plan(name, spec, settings, fields)


# -- starting and resuming -------------------------------------------------------------------------


def run(store: Store | None, cfg: Config, name: str, *, since: datetime | None, until: datetime | None, operator: str,
        dry_run: bool = False, limit: int | None = None, progress: Progress | None = None,
        clock: Callable[[], datetime] = utcnow) -> Report:
    """Replay ``name`` between ``since`` and ``until``. The source and the target are reached
    before the run is recorded: either unreachable raises CouldNotRun and records nothing. A
    dry-run records nothing (``store`` may be None)."""
    p = plan(cfg, name)
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be before --until")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    events: Iterator[Event] = _numbered(p, cfg, since, until, None, limit, set())
    if dry_run:
        return _dry_run(p, events)
    assert store is not None
    events = _primed(events)
    _reachable(p.settings.url)
    runner = _runner()
    with store.transaction() as tx:
        row = rows.insert_run(tx, name=name, since=since, until=until, dry_run=False, limit=limit,
                              operator=operator, runner=runner, now=clock())
    return _send(store, p, row, runner, events, None, progress, clock)


def resume(store: Store, cfg: Config, run_id: int, operator: str, *, progress: Progress | None = None,
           clock: Callable[[], datetime] = utcnow, stale_after: float = STALE_AFTER,
           retry_failed: bool = False) -> Report:
    """Continue an interrupted, stopped or failed run after its cursor; events it delivered are
    not sent again. With ``retry_failed``, then send once more each event up to the cursor whose
    latest outcome is ``failed`` (unless the stop rule fired on the way)."""
    now = clock()
    with store.transaction() as tx:
        _mark_dead(tx, now, stale_after)
        row = rows.get_run(tx, run_id)
        if row is None:
            raise UsageError(f"no replay run {run_id}", hint="`opsbook replay list` lists them")
        if row.status not in RESUMABLE:
            why = ("its runner is alive" if row.status == rows.RUNNING else "it has nothing left to send")
            raise ReplayConflict(f"replay run {run_id} is {row.status}: {why}",
                                 hint="only an interrupted, stopped or failed run resumes")
        cursor = row.cursor
        delivered = rows.delivered_after(tx, run_id, int(cursor["seq"]) if cursor else -1)
        upto = int(cursor["seq"]) if cursor else -1
        latest = rows.failed_latest(tx, run_id, None)
        # failed beyond the cursor (in flight around a kill or a stop): the first pass sends them
        # again in any resume, and their new outcome replaces the failed row instead of adding one
        redo = {f for f in latest if f[1] > upto}
        failed = [f for f in latest if f[1] <= upto] if retry_failed else []
    p = plan(cfg, row.name)
    events = _primed(_numbered(p, cfg, row.since, row.until, cursor, row.limit, delivered))
    _reachable(p.settings.url)
    runner = _runner()
    with store.transaction() as tx:
        moved = rows.move(tx, row, rows.RUNNING, clock(), runner=runner)
        if moved is None:
            raise ReplayConflict(f"replay run {run_id} changed while resuming it (someone else resumed it?)")
    again = (lambda: _failed_again(p, cfg, row, failed)) if failed else None
    return _send(store, p, moved, runner, events, cursor, progress, clock, again, redo)


def _failed_again(p: Plan, cfg: Config, row: rows.RunRow, failed: list[tuple[str, int]]) -> Iterator[Event]:
    """The source over the run's window again, yielding only the events in ``failed`` (matched by
    key: a command or an unordered query may number them differently this time), each once, with
    its recorded seq; it stops reading once all are found."""
    wanted: dict[str, deque[int]] = {}
    for key, seq in failed:
        wanted.setdefault(key, deque()).append(seq)
    events = _numbered(p, cfg, row.since, row.until, None, row.limit, set())
    try:
        for ev in events:
            seqs = wanted.get(ev.key)
            if not seqs or ev.error is not None:
                continue
            if ev.seq in seqs:
                seqs.remove(ev.seq)
            else:
                ev.seq = seqs.popleft()
            if not seqs:
                del wanted[ev.key]
            yield ev
            if not wanted:
                return
    finally:
        events.close()


def _numbered(p: Plan, cfg: Config, since: datetime | None, until: datetime | None, cursor: dict[str, Any] | None,
              limit: int | None, delivered: set[str]) -> Generator[Event, None, None]:
    """The source's events numbered in source order, starting after ``cursor``; those in
    ``delivered`` marked ``already``; none at or past ``limit``."""
    after = int(cursor["seq"]) if cursor else -1
    events, seeks = open_source(p.spec, cfg.resources, p.fields, since, until,
                                cursor.get("position") if cursor else None, cfg.base_dir)
    seq = after + 1 if seeks else 0
    try:
        for ev in events:
            if seq <= after:  # a source that cannot seek: counted past
                seq += 1
                continue
            if limit is not None and seq >= limit:
                return
            ev.seq, seq = seq, seq + 1
            if len(ev.key) > MAX_KEY and ev.error is None:  # the record keeps keys whole, or not at all
                ev.key, ev.error = ev.key[:MAX_KEY], f"the event key is longer than {MAX_KEY} characters"
            ev.already = ev.key in delivered
            yield ev
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _primed(events: Iterator[Event]) -> Iterator[Event]:
    """The events with the first one read now: an unreachable source fails before the run starts."""
    try:
        first = next(events)
    except StopIteration:
        return iter(())

    def chained() -> Iterator[Event]:
        try:
            yield first
            yield from events
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    return chained()


def _reachable(url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=5):
            pass
    except OSError as e:
        raise CouldNotRun(f"the replay target {parts.hostname}:{port} is unreachable: {e.strerror or e}",
                          hint="check the target resource's url") from None


def _runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(runner: str) -> bool:
    host, _, rest = runner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another host's runner: only its heartbeat tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _mark_dead(tx: Any, now: datetime, stale_after: float) -> None:
    dead = tuple(r.runner for r in rows.running(tx) if not _alive(r.runner))
    rows.mark_stale(tx, now, stale_after, dead_runners=dead)


# -- sending -------------------------------------------------------------------------------------


class _Watermark:
    """The highest seq up to which every event has an outcome, and where the source was then."""

    def __init__(self, cursor: dict[str, Any] | None) -> None:
        self.cursor = cursor
        self.next = int(cursor["seq"]) + 1 if cursor else 0
        self.ended: dict[int, Any] = {}  # at most the sender's window

    def add(self, seq: int, position: Any) -> None:
        self.ended[seq] = position
        while self.next in self.ended:
            self.cursor = {"seq": self.next, "position": self.ended.pop(self.next)}
            self.next += 1


class _Recorder:
    """Outcomes gathered and written in batches by the runner that owns the run."""

    def __init__(self, store: Store, p: Plan, row: rows.RunRow, runner: str, cursor: dict[str, Any] | None,
                 progress: Progress | None, clock: Callable[[], datetime],
                 redo: set[tuple[str, int]] | None = None) -> None:
        self.store, self.row, self.runner, self.progress, self.clock = store, row, runner, progress, clock
        self.rule = p.spec.stop_rule
        self.mark = _Watermark(cursor)
        self.batch: list[rows.Outcome] = []
        self.retried: list[rows.Outcome] = []  # outcomes replacing a failed row (--retry-failed)
        # the failed events beyond the cursor (at most the window), which the first pass sends
        # again: their outcome replaces the failed row (counted once), as a retried one does
        self.redo = redo or set()
        self.attempts = 0
        # the stop rule judges this segment of the run: a resume after the target was fixed starts afresh
        self.done, self.failed, self.in_a_row = 0, 0, 0
        self.counts = {"delivered": row.delivered, "failed": row.failed, "skipped": row.skipped}
        self.stopped: str | None = None
        self.lost = False
        self.retrying = False  # the --retry-failed pass: outcomes update failed rows, the cursor stays
        self.since = time.monotonic()

    def should_stop(self) -> bool:
        return self.stopped is not None or self.lost

    def outcome(self, ev: Event, d: Delivery | None) -> None:
        if d is not None:
            o = rows.Outcome(ev.key, ev.seq, d.status, d.attempts, d.http_status, d.error, d.response)
            if self.retrying or (ev.key, ev.seq) in self.redo:
                self.retried.append(o)
                if d.status == "delivered":
                    self.counts["delivered"] += 1
                    self.counts["failed"] -= 1
            else:
                self.batch.append(o)
                self.counts[d.status] += 1
            self.attempts += d.attempts
            if d.status != "skipped":
                self.done += 1
                self.failed += d.status == "failed"
                self.in_a_row = self.in_a_row + 1 if d.status == "failed" else 0
            if self.rule is not None and self.stopped is None and self.rule.fires(self.failed, self.done,
                                                                                  self.in_a_row):
                self.stopped = self.rule.text
        if not self.retrying:
            self.mark.add(ev.seq, ev.position)
        if len(self.batch) + len(self.retried) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.lost:
            return
        now = time.monotonic()
        with self.store.transaction() as tx:
            ok = rows.record(tx, self.row.id, self.runner, self.batch, attempts=self.attempts,
                             active_seconds=now - self.since, now=self.clock(),
                             cursor=None if self.retrying else self.mark.cursor)
            if ok and self.retried:
                ok = rows.record_retries(tx, self.row.id, self.runner, self.retried, now=self.clock())
        self.lost = not ok
        self.batch, self.retried, self.attempts, self.since = [], [], 0, now

    def tick(self) -> None:
        self.flush()
        if self.progress is not None:
            self.progress(dict(self.counts))


def _send(store: Store, p: Plan, row: rows.RunRow, runner: str, events: Iterator[Event],
          cursor: dict[str, Any] | None, progress: Progress | None, clock: Callable[[], datetime],
          again: Callable[[], Iterator[Event]] | None = None, redo: set[tuple[str, int]] | None = None) -> Report:
    """Send ``events``; then, unless the stop rule fired, the events ``again`` yields (the failed
    ones a ``--retry-failed`` resume sends once more)."""
    rec = _Recorder(store, p, row, runner, cursor, progress, clock, redo)

    def sender() -> Sender:
        return Sender(p.settings, on_outcome=rec.outcome, on_tick=rec.tick, should_stop=rec.should_stop)

    try:
        asyncio.run(sender().run(events))
        if again is not None and not rec.should_stop():
            rec.flush()  # the first pass's outcomes with its cursor, before the retries' own batches
            rec.retrying = True
            asyncio.run(sender().run(again()))
    except BaseException as e:  # a source that failed, Ctrl-C, a store error: record what was done
        status = "failed" if isinstance(e, CouldNotRun) else "interrupted"
        try:
            rec.flush()
            with store.transaction() as tx:
                rows.move(tx, _current(tx, row.id), status, clock(), error=redactor.text(str(e))[:1000] or status)
        except Exception:
            pass
        raise
    rec.flush()
    if rec.lost:
        raise ReplayConflict(f"replay run {row.id} was taken over by another runner; this one stopped")
    error: str | None = None
    if rec.stopped:
        status, error = "stopped", f"stop rule fired: {rec.stopped}"
    else:
        status = "failed" if rec.counts["failed"] or rec.counts["skipped"] else "succeeded"
    with store.transaction() as tx:
        moved = rows.move(tx, _current(tx, row.id), status, clock(), error=error)
    if progress is not None:
        progress(dict(rec.counts))
    return report(store, moved.id if moved else row.id)


def _current(tx: Any, run_id: int) -> rows.RunRow:
    got = rows.get_run(tx, run_id)
    assert got is not None
    return got


def _dry_run(p: Plan, events: Iterator[Event]) -> Report:
    counts = {"would_send": 0, "malformed": 0}
    samples: list[dict[str, Any]] = []
    for ev in events:
        counts["malformed" if ev.error else "would_send"] += 1
        if len(samples) < SAMPLES:
            samples.append(sample(p, ev))
    return Report(None, counts, samples=samples, dry_run=True)


def sample(p: Plan, ev: Event) -> dict[str, Any]:
    """What would be sent for ``ev``: signature values never shown, a body only when nothing
    in it is a secret (the redactor leaves it unchanged)."""
    body = ev.body.decode("utf-8", "replace")
    shown = body if redactor.text(body) == body else f"(withheld: {len(ev.body)} bytes containing a secret)"
    headers = {k: REDACTED for k in p.settings.sign(ev.body, 0)}
    if p.settings.idempotency_header and ev.idempotency:
        headers[p.settings.idempotency_header] = redactor.text(ev.idempotency)
    return {"seq": ev.seq, "key": redactor.text(ev.key), "order_key": ev.order, "error": ev.error,
            "method": p.settings.method, "url": redactor.text(p.settings.url), "headers": headers,
            "body": shown[:2000]}


# -- reading -------------------------------------------------------------------------------------


def report(store: Store, run_id: int, *, failures: int = 20, clock: Callable[[], datetime] = utcnow,
           stale_after: float = STALE_AFTER) -> Report:
    with store.transaction() as tx:
        _mark_dead(tx, clock(), stale_after)
        row = rows.get_run(tx, run_id)
        if row is None:
            raise UsageError(f"no replay run {run_id}", hint="`opsbook replay list` lists them")
        counts = rows.counts(tx, run_id)
        failed = rows.events(tx, run_id, "failed", failures) + rows.events(tx, run_id, "skipped", failures)
    n = row.delivered + row.failed
    rate = n / row.active_seconds if row.active_seconds > 0 and n else None
    return Report(row, counts, failed, rate)


def runs(store: Store, *, name: str | None = None, limit: int = 50, clock: Callable[[], datetime] = utcnow,
         stale_after: float = STALE_AFTER) -> list[rows.RunRow]:
    with store.transaction() as tx:
        _mark_dead(tx, clock(), stale_after)
        return rows.listing(tx, name, limit)
