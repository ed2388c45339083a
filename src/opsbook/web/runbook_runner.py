"""Runbook runs started from the dashboard or the API: ops.runbook.run/resume in a background
thread of the web process, exactly as the CLI runs them without a terminal (confirmations,
checklist items and approvals make the run wait; nobody is prompted).

Bounded: at most ``serve.runbook_runs`` (``SIZE``, 2) runs walk at once per web process; one more
is refused (503, retryable) before anything is recorded. A run's thread ends by itself: every step
has its timeout (killed by its kind), so a walk lasts at most the sum of its steps' timeouts
(``deadline_of``), shown on the run page. Step output is kept in memory while a step runs (the last
``LIVE_MAX`` bytes, secrets redacted line by line) for the live view; the record keeps the bounded
output when it ends.

Shutdown (SIGTERM of `opsbook serve`, through the app's lifespan): every run this process is
walking is marked ``interrupted`` at once (its running step ``error``), as ops.runbook marks a
run whose heartbeat stopped; ``opsbook runbook resume RUN`` (or the page's Resume) continues it
at that step. Without the lifespan (a crash, SIGKILL) the heartbeat rule does the same 30 seconds
later, the next time anyone reads the run.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..errors import ApiError, OpsbookError
from ..ops import runbook as ops
from ..runbooks.model import Runbook, Step
from ..store import Store
from ..store import runbook_runs as rows

SIZE = 2  # runs walking at once per web process (serve.runbook_runs)
LIVE_MAX = 64 * 1024  # bytes of a running step's output kept for the live view
START_WAIT = 15.0  # seconds to wait for a started run to get its id (it is quick: one insert)
SLACK = 60.0  # seconds added to the sum of step timeouts for the deadline shown


@dataclass
class Live:
    """The output of one running step attempt, as it comes (bounded: the last LIVE_MAX bytes)."""

    data: bytearray = field(default_factory=bytearray)
    total: int = 0  # bytes written so far; ``data`` holds bytes total-len(data) .. total
    lock: threading.Lock = field(default_factory=threading.Lock)  # the walk writes, requests read

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk
            self.total += len(chunk)
            if len(self.data) > LIVE_MAX:
                del self.data[:len(self.data) - LIVE_MAX]

    def since(self, after: int, limit: int) -> tuple[int, bytes, bool]:
        """(offset of what is returned, its bytes, whether bytes before it were dropped)."""
        with self.lock:
            first = self.total - len(self.data)
            start = min(max(after, first), self.total)
            piece = bytes(self.data[start - first:start - first + limit])
        return start, piece, after < first


@dataclass
class Active:
    label: str
    deadline: datetime
    run_id: int | None = None
    step_id: int | None = None
    live: dict[int, Live] = field(default_factory=dict)
    error: OpsbookError | None = None
    record: ops.Record | None = None
    started: threading.Event = field(default_factory=threading.Event)


def deadline_of(cfg: Config, runbook: Runbook, now: datetime) -> datetime:
    """When a walk of ``runbook`` must have ended: every step at its timeout, with its retries."""
    total = SLACK
    for action in runbook.actions("main") + runbook.actions("rollback"):
        if isinstance(action, Step):
            total += (action.timeout or cfg.model.runbooks.step_timeout) * (action.retries + 1)
    return now + timedelta(seconds=total)


class Pool:
    def __init__(self, store: Store, clock: Callable[[], datetime], size: int = SIZE) -> None:
        self.store = store
        self.clock = clock
        self.size = size
        self._lock = threading.Lock()
        self._active: list[Active] = []

    def active(self) -> list[Active]:
        with self._lock:
            return list(self._active)

    def live(self, run_id: int) -> Active | None:
        return next((a for a in self.active() if a.run_id == run_id), None)

    def start(self, label: str, deadline: datetime, walk: Callable[[ops.Hooks], ops.Record],
              run_id: int | None = None) -> int:
        """Walk in a new thread; the run's id once it has one. An error raised before the run
        started (bad parameters, a held lock, a conflict) is raised here, nothing recorded."""
        a = Active(label, deadline, run_id)
        with self._lock:
            if len(self._active) >= self.size:
                busy = ", ".join(f"run {x.run_id} ({x.label}, until {x.deadline.isoformat(timespec='seconds')})"
                                 for x in self._active)
                raise ApiError(503, f"this server walks {self.size} runbook runs at once and all are busy: {busy}",
                               hint="retry when one ends, or run it with `opsbook runbook run`", retryable=True)
            self._active.append(a)
        hooks = ops.Hooks(emit=lambda chunk: self._emit(a, chunk), on_step=lambda row: self._on_step(a, row))
        thread = threading.Thread(target=self._walk, args=(a, walk, hooks), name=f"runbook-{label}", daemon=True)
        thread.start()
        a.started.wait(START_WAIT)
        if a.run_id is not None:
            return a.run_id
        if a.error is not None:
            raise a.error
        raise ApiError(503, f"the run of {label} did not start within {START_WAIT:.0f}s", retryable=True,
                       hint="see the opsbook serve log; GET /api/v1/runbook-runs lists the runs")

    def _walk(self, a: Active, walk: Callable[[ops.Hooks], ops.Record], hooks: ops.Hooks) -> None:
        try:
            a.record = walk(hooks)
            a.run_id = a.record.run.id
        except OpsbookError as e:
            a.error = e  # before the start: the caller raises it; after: the record says what happened
        except Exception:  # a bug: logged; the run's heartbeat stops and it shows interrupted
            traceback.print_exc()
            a.error = ApiError(500, f"the run of {a.label} stopped on an internal error",
                               hint="see the opsbook serve log")
        finally:
            with self._lock:
                if a in self._active:
                    self._active.remove(a)
            a.started.set()

    def _on_step(self, a: Active, row: rows.StepRow) -> None:
        a.run_id = row.run_id
        if row.status == rows.RUNNING:
            a.step_id = row.id
            a.live = {row.id: Live()}  # only the running attempt's output is kept
        else:
            a.live.pop(row.id, None)
        a.started.set()

    def _emit(self, a: Active, chunk: bytes) -> None:
        # the walk wraps this in RedactedStream: chunks arrive as whole lines, secrets replaced
        live = a.live.get(a.step_id) if a.step_id is not None else None
        if live is not None:
            live.add(chunk)

    def shutdown(self, wait: float = 2.0) -> list[int]:
        """Mark the runs this process walks interrupted (the process is going away); their ids."""
        deadline = time.monotonic() + wait
        ids = [a.run_id for a in self.active() if a.run_id is not None]
        done: list[int] = []
        for run_id in ids:
            try:
                with self.store.transaction() as tx:
                    # any heartbeat is "older" than a second from now: exactly this run is marked
                    done += rows.mark_stale(tx, self.clock(), -1.0, run_id)
            except Exception:  # a closed or unreachable store: the heartbeat rule
                traceback.print_exc()  # the heartbeat rule marks it 30 s after its last beat
            if time.monotonic() > deadline:
                break
        return done


_POOLS: weakref.WeakKeyDictionary[Any, Pool] = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def pool_of(web: Any) -> Pool:
    """The pool of one web app (``state.Web``), made on first use."""
    with _POOLS_LOCK:
        pool = _POOLS.get(web)
        if pool is None:
            pool = _POOLS[web] = Pool(web.store, web.now, size=web.config().model.serve.runbook_runs)
        return pool
