"""Refused requests: audited at most one row per remote address per minute (with a count), and
an address that keeps presenting wrong credentials is throttled (HTTP 429 with Retry-After).

Only *wrong* credentials count towards the throttle (an unknown bearer token, a wrong login
token, a wrong heartbeat key or name): a browser whose session expired is refused (and audited)
but never locked out. Both are per process and in memory; the clock is the web context's.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import Throttled
from ..store.store import Store
from . import audit

FAILURES_PER_MINUTE = 10  # wrong credentials from one address within a minute before it is throttled
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # memory bound: forget quiet addresses beyond this many


@dataclass
class _Row:
    minute: int  # which minute (Unix time // 60) the audit row counts
    row_id: int
    count: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class Guard:
    def __init__(self, store: Store, limit: int = FAILURES_PER_MINUTE) -> None:
        self.store = store
        self.limit = limit
        self._failures: dict[str, deque[float]] = {}
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()

    def check(self, remote: str, now: datetime) -> None:
        """Raise Throttled while ``remote`` has ``limit`` failures within the last minute."""
        t = now.timestamp()
        with self._lock:
            q = self._failures.get(remote)
            if q is None:
                return
            while q and q[0] <= t - WINDOW_S:
                q.popleft()
            if len(q) < self.limit:
                return
            wait = max(1, math.ceil(q[0] + WINDOW_S - t))
        raise Throttled(wait, self.limit)

    def failed(self, remote: str, now: datetime) -> None:
        """One wrong credential from ``remote``."""
        t = now.timestamp()
        with self._lock:
            if len(self._failures) >= MAX_ADDRESSES:
                self._failures = {k: q for k, q in self._failures.items() if q and q[-1] > t - WINDOW_S}
            q = self._failures.setdefault(remote, deque())
            q.append(t)
            while len(q) > self.limit:  # only the last `limit` matter
                q.popleft()

    def refused(self, *, remote: str, now: datetime, status: int, method: str, path: str, reason: str) -> None:
        """Audit one refused request: the first from ``remote`` in a minute inserts a row, the
        others in that minute update its count (an attacker cannot flood the audit log)."""
        minute = int(now.timestamp() // 60)
        with self._lock:
            row = self._rows.get(remote)
            if row is None or row.minute != minute:
                row = None
                if len(self._rows) >= MAX_ADDRESSES:
                    self._rows = {k: r for k, r in self._rows.items() if r.minute == minute}
        key = str(status)
        if row is None:
            detail = {"count": 1, "by_status": {key: 1}, "reason": reason}
            row_id = audit.insert(self.store, at=now, actor="-", role="-", action="auth.refused",
                                  target=f"{method} {path}", remote=remote, outcome="refused", detail=detail)
            with self._lock:
                self._rows[remote] = _Row(minute, row_id, 1, {key: 1})
            return
        with self._lock:
            row.count += 1
            row.by_status[key] = row.by_status.get(key, 0) + 1
            detail_now: dict[str, Any] = {"count": row.count, "by_status": dict(row.by_status), "reason": reason,
                                          "last": f"{method} {path}"}
        audit.update_detail(self.store, row.row_id, detail_now)
