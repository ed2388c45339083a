"""Send events to the target: ``concurrency`` workers, each owning one keep-alive connection
(replay/http1.py), a token bucket for ``rate``, one event in flight per order key, retries with
exponential backoff on 429/5xx and errors (Retry-After honoured, capped), and a window of at
most ``window`` events in memory.

The source is read ``BATCH`` events at a time in one dedicated thread (a SQLite connection
stays on the thread that made it; a slow command or query never blocks the sending). Each event ends in
exactly one call of ``on_outcome`` (a ``Delivery``, or None for an event skipped as delivered
before), except those left unsent when ``should_stop`` turns true: they have no outcome, so a
resume sends them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config.replay import Retries
from ..config.secrets import redactor
from ..errors import ReplayHeaderRefused
from .event import Event
from .http1 import Connection, Target
from .signing import Signer

BATCH = 256
SNIPPET = 1000  # characters of a failed response kept in the record


@dataclass
class Delivery:
    status: str  # delivered | failed | skipped
    attempts: int
    http_status: int | None = None
    error: str | None = None
    response: str | None = None


@dataclass
class Settings:
    url: str
    method: str
    sign: Signer
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_header: str | None = "Idempotency-Key"
    concurrency: int = 16
    rate: float | None = None
    retries: Retries = field(default_factory=Retries)
    timeout: float = 10.0
    verify: bool = True


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, max(1.0, burst), clock, sleep
        self.tokens, self.last = self.burst, clock()

    async def take(self) -> None:
        while True:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await self.sleep((1 - self.tokens) / self.rate)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def delay(attempt: int, retries: Retries, after: float | None) -> float:
    """The wait before the next attempt: the server's Retry-After (capped) when it gave one,
    else the backoff doubled per attempt (capped)."""
    if after is not None:
        return float(min(after, retries.max_retry_after))
    return float(min(retries.backoff * 2 ** (attempt - 1), retries.max_backoff))


class Sender:
    def __init__(self, settings: Settings, *, on_outcome: Callable[[Event, Delivery | None], None],
                 on_tick: Callable[[], None] = lambda: None, should_stop: Callable[[], bool] = lambda: False,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, window: int | None = None, tick: float = 0.5) -> None:
        self.s = settings
        self.on_outcome, self.on_tick, self.should_stop = on_outcome, on_tick, should_stop
        self.sleep, self.clock, self.wall, self.tick = sleep, clock, wall, tick
        self.window_size = window or max(256, 4 * settings.concurrency)
        self.limiter = TokenBucket(settings.rate, min(settings.rate, settings.concurrency), clock, sleep) \
            if settings.rate else None
        self.busy: set[str] = set()  # order keys with an event in flight
        self.pending: dict[str, deque[Event]] = {}  # the events waiting behind them

    async def run(self, events: Iterator[Event]) -> None:
        c = self.s.concurrency
        target = Target(self.s.url, self.s.verify)
        reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-source")
        window = asyncio.Semaphore(self.window_size)
        ready: asyncio.Queue[Event | None] = asyncio.Queue()
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(c):
                    tg.create_task(self._worker(ready, window, Connection(target)))
                ticker = tg.create_task(self._ticker())
                try:
                    await self._produce(events, reader, ready, window)
                    for _ in range(self.window_size):  # every event taken has ended
                        await window.acquire()
                finally:
                    for _ in range(c):
                        ready.put_nowait(None)
                    ticker.cancel()
        except ExceptionGroup as eg:  # a worker's error (the store refused a write): the first one
            raise eg.exceptions[0] from None
        finally:
            close = getattr(events, "close", None)
            if close is not None:  # a generator's cleanup (its connection) on the thread that made it
                await asyncio.get_running_loop().run_in_executor(reader, close)
            reader.shutdown(wait=False)

    async def _produce(self, events: Iterator[Event], reader: concurrent.futures.Executor,
                       ready: asyncio.Queue[Event | None], window: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        while not self.should_stop():
            batch = await loop.run_in_executor(reader, _take, events, BATCH)
            if not batch:
                return
            for ev in batch:
                await window.acquire()
                if self.should_stop():
                    window.release()
                    return
                self._admit(ev, ready, window)

    def _admit(self, ev: Event, ready: asyncio.Queue[Event | None], window: asyncio.Semaphore) -> None:
        if ev.already:
            self._done(ev, None, window)
        elif ev.error is not None:
            self._done(ev, Delivery("skipped", 0, error=redactor.text(ev.error)[:SNIPPET]), window)
        elif ev.order is None:
            ready.put_nowait(ev)
        elif ev.order in self.busy:
            self.pending.setdefault(ev.order, deque()).append(ev)
        else:
            self.busy.add(ev.order)
            ready.put_nowait(ev)

    def _done(self, ev: Event, d: Delivery | None, window: asyncio.Semaphore) -> None:
        try:
            self.on_outcome(ev, d)
        finally:
            window.release()

    async def _worker(self, ready: asyncio.Queue[Event | None], window: asyncio.Semaphore,
                      conn: Connection) -> None:
        try:
            await self._work(ready, window, conn)
        finally:
            conn.close()

    async def _work(self, ready: asyncio.Queue[Event | None], window: asyncio.Semaphore, conn: Connection) -> None:
        while (ev := await ready.get()) is not None:
            if self.should_stop():
                window.release()  # left unsent, without an outcome: a resume sends it
            else:
                self._done(ev, await self._deliver(ev, conn), window)
            if ev.order is not None:
                queue = self.pending.get(ev.order)
                if queue:
                    ready.put_nowait(queue.popleft())  # the key stays busy: its next event goes
                    if not queue:
                        del self.pending[ev.order]
                else:
                    self.busy.discard(ev.order)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self.on_tick()

    async def _deliver(self, ev: Event, conn: Connection) -> Delivery:
        s, attempts = self.s, 0
        while True:
            if self.limiter is not None:
                await self.limiter.take()
            attempts += 1
            headers = {**s.headers, **s.sign(ev.body, int(self.wall()))}
            if s.idempotency_header and ev.idempotency:
                headers[s.idempotency_header] = ev.idempotency
            after: float | None = None
            status: int | None = None
            text = ""
            try:
                async with asyncio.timeout(s.timeout):
                    status, got, raw = await conn.request(s.method, headers, ev.body, SNIPPET * 4)
                if 200 <= status < 300:
                    return Delivery("delivered", attempts, status)
                retry, error = status == 429 or status >= 500, f"HTTP {status}"
                after = retry_after(got.get("retry-after"))
                text = raw.decode("utf-8", "replace")
            except TimeoutError:
                retry, error = True, f"no answer within {s.timeout:g}s"
            except ReplayHeaderRefused as e:  # an event field that would split the request: never sent
                return Delivery("failed", attempts, None, redactor.text(str(e))[:SNIPPET])
            except (OSError, EOFError, ValueError) as e:
                retry, error = True, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'connection failed'}"
            if not retry or attempts > s.retries.times or self.should_stop():
                return Delivery("failed", attempts, status, redactor.text(error)[:SNIPPET],
                                redactor.text(text)[:SNIPPET] or None)
            await self.sleep(delay(attempts, s.retries, after))


def _take(events: Iterator[Event], n: int) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        out.append(ev)
        if len(out) >= n:
            break
    return out
