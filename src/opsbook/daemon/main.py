"""``opsbook serve``: the scheduler loop, the web app, signals and the self-heartbeat, in one
asyncio loop.

SIGHUP reloads the config (a config that does not load is reported and the old one kept);
SIGTERM and SIGINT stop claiming work, wait for what is in flight (``serve.drain_timeout``) and
exit 0. Work still running after the drain timeout is abandoned: its leases and outbox claims
are released for the next process, and the process exits at once (a thread stuck in a
receiver or a database call cannot be interrupted, and must not keep it alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..config.load import Config
from ..config.web import metrics_note
from ..errors import ConfigErrors, OpsbookError
from ..ops.load import load, open_store
from ..store import Store
from .heartbeat import run_heartbeat
from .log import Log
from .schedule import units_of
from .scheduler import Scheduler, error_dict, utcnow


@dataclass
class Options:
    config_path: str | None = None
    env: str | None = None
    store: str | None = None
    web: bool = True
    host: str | None = None
    port: int | None = None
    log_format: str | None = None  # text | json; default serve.log_format
    once: bool = False


def serve(opts: Options) -> int:
    return asyncio.run(Daemon(opts, exit_when_abandoned=True).run())


def exit_now(code: int) -> None:
    """Leave the process now, whatever threads are still running (after the logs are flushed)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def describe(cfg: Config) -> str:
    kinds: dict[str, int] = {}
    for u in units_of(cfg):
        kinds[u.kind] = kinds.get(u.kind, 0) + 1
    jobs = sum(kinds.get(k, 0) for k in ("backup", "drill", "integrity"))
    runbooks = kinds.get("runbook", 0)
    return f"{kinds.get('check', 0)} checks, {jobs} scheduled jobs" + (f", {runbooks} routine runbooks" if runbooks
                                                                      else "")


class Daemon:
    def __init__(self, opts: Options, *, exit_when_abandoned: bool = False) -> None:
        self.opts = opts
        # `opsbook serve` itself: after the drain timeout, exit even with threads still running
        self.exit_when_abandoned = exit_when_abandoned
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()  # a signal arrived: do not wait out the tick
        self.reload_requested = False
        cfg = load(opts.config_path, opts.env)
        units_of(cfg)  # serve.schedules names real suites: a usage error before anything starts
        self.log = Log(opts.log_format or cfg.model.serve.log_format)
        self.store = open_store(cfg, opts.store)
        self.sched = Scheduler(cfg, self.store, log=self.log, once=opts.once)
        self.url = ""
        self.metrics_note = ""

    @property
    def cfg(self) -> Config:
        return self.sched.cfg

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        tasks: list[asyncio.Task[Any]] = []
        server = None
        drained = True
        try:
            if self.opts.web and not self.opts.once:
                server = await self._start_web(tasks)
            tasks.append(loop.create_task(run_heartbeat(lambda: self.cfg, self._healthy, self.log, self.stop)))
            web = f"; dashboard {self.url} ({self.metrics_note})" if self.url else ""
            self.log.info(f"opsbook serve: {describe(self.cfg)} from {self.cfg.path}; store "
                          f"{self.store.safe_url}; instance {self.sched.owner}{web}",
                          instance=self.sched.owner, url=self.url or None)
            await self._loop()
            if self.opts.once:
                await self._finish_once()
            inflight = len(set(self.sched.inflight.values()))
            if inflight:
                self.log.info(f"stopping: waiting for {inflight} run(s) in flight")
            drained = await self.sched.drain(self.cfg.model.serve.drain_timeout)
        finally:
            self.stop.set()
            if server is not None:
                server.should_exit = True
            for t in tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(t, timeout=5)
            if not drained:
                self.sched.abandon()
            self.sched.close()
            self.store.close()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        if not drained and self.exit_when_abandoned:
            self.log.info("stopped (abandoned the runs still in flight; the next process retries them)")
            exit_now(0)
        self.log.info("stopped")
        return 0

    async def _finish_once(self) -> None:
        """`--once` waits for what it started (each unit has its own timeout); a signal turns the
        wait into the usual drain, bounded by ``serve.drain_timeout``."""
        while self.sched.inflight and not self.stop.is_set():
            self.wake.clear()
            waiters = {*set(self.sched.inflight.values()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in pending - set(self.sched.inflight.values()):
                w.cancel()

    async def _loop(self) -> None:
        while not self.stop.is_set():
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            elif self.sched.runbooks_changed():
                self._reschedule_runbooks()
            await self.sched.tick(utcnow())
            if self.opts.once:
                return
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.cfg.model.serve.tick)

    def _healthy(self) -> bool:
        return not self.sched._tick_error

    def _on_stop(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            return
        self.log.info(f"{sig.name}: draining, then exiting")
        self.stop.set()
        self.wake.set()

    def _on_hup(self) -> None:
        self.reload_requested = True
        self.wake.set()

    def _reschedule_runbooks(self) -> None:
        """A runbook file was added, removed or edited: the same config applied again picks up
        routine runbooks (their schedules) without a SIGHUP; a failure keeps what runs now."""
        try:
            self.sched.apply(self.cfg, utcnow())
        except Exception as e:  # a store outage or a bug must not stop the daemon
            self.log.error(f"runbook files changed; rescheduling failed, keeping the schedule: "
                           f"{error_dict(e)['message']}")
            return
        self.log.info(f"runbook files changed: {describe(self.cfg)}")

    def reload(self) -> None:
        """Load the config again; keep the old one when the new one does not load."""
        old = self.cfg
        try:
            new = load(self.opts.config_path, self.opts.env)
            self.sched.apply(new, utcnow())
        except ConfigErrors as e:
            problems = [ce.message for ce in e.errors]
            self.log.error(f"reload failed, keeping the previous config: {'; '.join(problems)}",
                           error=e.to_dict())
            return
        except OpsbookError as e:
            self.log.error(f"reload failed, keeping the previous config: {e.message}", error=e.to_dict())
            return
        except Exception as e:  # a bug must not kill a running daemon either
            self.log.error(f"reload failed, keeping the previous config: {error_dict(e)['message']}")
            return
        before, after = set(old.checks), set(new.checks)
        added, removed = sorted(after - before), sorted(before - after)
        changes = "".join([f"; added {', '.join(added)}" if added else "",
                           f"; removed {', '.join(removed)}" if removed else ""])
        if new.store_url() != old.store_url() and not self.opts.store:
            changes += "; store.url changed: restart to use the new store"
        self.log.info(f"reloaded {new.path}: {describe(new)}{changes}", added=added, removed=removed)

    # -- web -------------------------------------------------------------------------------------

    async def _start_web(self, tasks: list[asyncio.Task[Any]]) -> Any:
        import uvicorn

        from ..web import app as web_app
        from ..web.context import WebContext

        web_store = Store.open(self.store.url, migrate=False)  # its own connection: requests run in threads
        sched = self.sched

        serve = self.cfg.model.serve
        host = self.opts.host or serve.host
        port = self.opts.port if self.opts.port is not None else serve.port
        ctx = WebContext(get_config=lambda: sched.cfg, store=web_store, run_now=sched.run_now,
                         info={"scheduler": sched.info}, listen_host=host)
        config = uvicorn.Config(web_app.create_app(ctx), host=host, port=port, log_level="warning",
                                access_log=False, lifespan="on", timeout_graceful_shutdown=2)
        server = _Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        tasks.append(task)
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if task.done():
            exc = task.exception()
            raise OpsbookError(f"the dashboard could not listen on {host}:{port}: {exc or 'server exited'}",
                               hint="pick another --port, or stop what uses it")
        sockets = [s for srv in server.servers for s in (srv.sockets or [])]
        bound = sockets[0].getsockname()[1] if sockets else port
        self.url = f"http://{host}:{bound}"
        self.metrics_note = metrics_note(self.cfg.model.api, host)
        return server


class _Server:
    """uvicorn's server without its own signal handlers: the daemon owns SIGTERM/SIGINT/SIGHUP."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Server(config)
