"""What every operation shares: recording its run, the worst status, the document of a run that raised.

An operation records through a ``Recorder``. The daemon and the API give it their store
(``Recorder(env, store=...)``): a store error is then the run's error, and the unit backs off.
The CLI gives it a way to open the store when the run is recorded (``Recorder(env, opener=...,
warn=...)``; a backup may run for hours before that): a store problem is a warning there, not
the command's failure. ``Recorder.nowhere()`` records nothing (``--no-store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import OpsbookError
from ..results import utcnow

if TYPE_CHECKING:
    from ..store import Store

T = TypeVar("T")
WORST_FIRST = ("error", "fail", "warn")  # then "pass"
INTERRUPTED = {"type": "Interrupted", "message": "interrupted", "hint": "", "retryable": True}


def worst(statuses: Iterable[str]) -> str:
    """The worst of error > fail > warn > pass (an integrity suite's status from its checks')."""
    seen = set(statuses)
    return next((s for s in WORST_FIRST if s in seen), "pass")


def error_of(e: BaseException) -> dict[str, Any]:
    """The ``error`` document of a run that raised: the error's own, or "interrupted" (Ctrl-C, SIGTERM)."""
    return e.to_dict() if isinstance(e, OpsbookError) else dict(INTERRUPTED)


def status_of(ok: bool) -> str:
    return "pass" if ok else "fail"


@dataclass
class Recorder:
    env: str | None
    store: Store | None = None  # record into this store; its errors are the run's
    opener: Callable[[], Store] | None = None  # else open a store per record; its errors are warnings
    warn: Callable[[str], None] | None = None
    enabled: bool = True

    @classmethod
    def nowhere(cls, env: str | None = None) -> Recorder:
        return cls(env, enabled=False)

    def _warn(self, text: str) -> None:
        if self.warn is not None:
            self.warn(f"warning: {text}")

    def record(self, kind: str, name: str, *, ok: bool, detail: dict[str, Any],
               started_at: datetime | None = None, status: str | None = None) -> None:
        """One ``runs`` row: the run's document as detail, finished now."""
        if not self.enabled:
            return
        if self.store is not None:
            self._insert(self.store, kind, name, ok, detail, started_at, status)
            return
        try:
            store = self._open()
        except OpsbookError as e:
            self._warn(f"not recorded: {e.message}")
            return
        try:
            self._insert(store, kind, name, ok, detail, started_at, status)
        except OpsbookError as e:
            self._warn(f"not recorded: {e.message}")
        finally:
            store.close()

    def _insert(self, store: Store, kind: str, name: str, ok: bool, detail: dict[str, Any],
                started_at: datetime | None, status: str | None) -> None:
        now = utcnow()
        store.record_run(kind, name, ok=ok, status=status or status_of(ok), started_at=started_at or now,
                         finished_at=now, detail=detail, env=self.env)

    def _open(self) -> Store:
        if self.opener is None:
            raise OpsbookError("no store to record in")
        return self.opener()

    def read(self, fn: Callable[[Store], T], warning: str, tolerate: bool = False) -> T | None:
        """A read that helps the operation but is not needed (the last integrity run, the
        drill-verified backups). With the daemon's store it is an ordinary read. With the CLI's,
        a store that cannot be opened is ``warning`` (``{reason}`` filled in) and None; so is a
        failing read when ``tolerate``. None when recording is off."""
        if not self.enabled:
            return None
        if self.store is not None:
            return fn(self.store)
        try:
            store = self._open()
        except OpsbookError as e:
            self._warn(warning.format(reason=e.message))
            return None
        try:
            return fn(store)
        except Exception as e:
            if not tolerate:
                raise
            self._warn(warning.format(reason=type(e).__name__))
            return None
        finally:
            store.close()
