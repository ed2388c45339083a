"""Self-monitoring: a dead man's switch. While the scheduler's ticks succeed, ping an outside URL
(Healthchecks.io, Cronitor, Uptime Kuma push...) every ``serve.self_heartbeat.every``; when opsbook
dies, hangs or loses its store the pings stop and the outside service alerts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx

from ..config.load import Config
from ..config.secrets import reveal
from .log import Log

IDLE_RECHECK = 5.0  # seconds between looks at the config when no heartbeat is configured


async def run_heartbeat(get_config: Callable[[], Config], healthy: Callable[[], bool], log: Log,
                        stop: asyncio.Event) -> None:
    last_state = ""  # log changes only: "ok" / the error message
    async with httpx.AsyncClient(follow_redirects=True) as client:
        while not stop.is_set():
            hb = get_config().model.serve.self_heartbeat
            wait = IDLE_RECHECK
            if hb is not None:
                wait = hb.every
                state = await _ping(client, reveal(hb.url, "serve.self_heartbeat.url") or "", hb.method,
                                    hb.timeout) if healthy() else "not pinging: the scheduler is unhealthy"
                if state != last_state:
                    (log.info if state == "ok" else log.warn)(f"self-heartbeat: {state}")
                    last_state = state
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


async def _ping(client: httpx.AsyncClient, url: str, method: str, timeout: float) -> str:
    try:
        r = await client.request(method, url, timeout=timeout)
    except httpx.HTTPError as e:
        return f"ping failed: {type(e).__name__}: {e}"
    return "ok" if r.status_code < 400 else f"ping failed: HTTP {r.status_code}"
