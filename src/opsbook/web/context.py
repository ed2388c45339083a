"""What the web app needs from whoever serves it (`opsbook serve`, tests, bench/web.py).

The daemon builds one WebContext and passes it to ``web.app.create_app``. The config is
read through ``get_config`` on every request because SIGHUP may swap it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..config.load import Config
from ..store.store import Store


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebContext:
    get_config: Callable[[], Config]
    store: Store
    # run one unit now: (kind, name) -> the run's JSON document; kind is check|backup|drill|integrity.
    # Raises errors.Busy (answered 409) when the unit's lease is held. The daemon passes
    # Scheduler.run_now; None when the app is served without a scheduler (read-only API).
    run_now: Callable[[str, str], Awaitable[dict[str, Any]]] | None = None
    clock: Callable[[], datetime] = _utcnow
    # extra facts for /metrics and the overview, e.g. {"scheduler": {...}} from the daemon
    info: dict[str, Any] = field(default_factory=dict)
    # the address the daemon listens on: /metrics is public by default only on loopback
    listen_host: str = "127.0.0.1"
