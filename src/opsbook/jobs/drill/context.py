"""What every verification step is given: the drill, the backup's manifest, the restored database and
the services (integrity suites, readiness checks, smoke suites) the caller passes in."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...config.backups import Drill
from ..backup.manifest import Manifest, TableSnapshot
from .result import DrillResult, StepResult


class Clock:
    """Times the drill's phases into ``result.phases_ms``; their sum is the measured RTO."""

    def __init__(self, result: DrillResult, on_phase: Callable[[str], None] | None = None) -> None:
        self.result, self.on_phase = result, on_phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.on_phase:
            self.on_phase(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:  # a phase entered again (one object at a time) adds up
            took = (time.perf_counter() - t0) * 1000
            self.result.phases_ms[name] = round(self.result.phases_ms.get(name, 0.0) + took, 1)


class RestoredDb(Protocol):
    """The restored database (a scratch PostgreSQL database or a temporary SQLite file)."""

    @property
    def target(self) -> str:
        """What the app is given in its ``env_var``: a DSN, or the SQLite file's path."""

    @property
    def kind(self) -> str:
        """``postgres`` or ``sqlite``."""

    def count(self, table: str, snap: TableSnapshot) -> tuple[int | None, str | None]:
        """Rows and max primary key of ``table`` (None, None when it cannot be read)."""

    def newest(self, table: str, column: str) -> Any:
        """``max(column)`` of ``table``; raises QueryFailed."""

    def query(self, q: str) -> tuple[list[str], list[Any]]:
        """Columns and rows of ``q``; raises QueryFailed."""

    def close(self) -> None:
        """Close the connection, if one is open (the next use opens a new one)."""


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


class SuiteOutcome(Outcome, Protocol):
    @property
    def counts(self) -> dict[str, int]: ...


class CheckOutcome(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def summary(self) -> str: ...


class RunIntegrity(Protocol):
    def __call__(self, suite: str, *, dsn: str | None = None, sqlite_path: str | None = None) -> SuiteOutcome: ...


@dataclass(frozen=True)
class DrillServices:
    """What the steps call outside jobs/, handed in by the caller (see ``wiring.default_services``)."""

    integrity: RunIntegrity  # run the integrity suite named against the restored database
    ready: Callable[[list[str]], Sequence[CheckOutcome]]  # run these checks once
    smoke: Callable[[str, str | None], Outcome]  # run smoke suite NAME against base_url


@dataclass
class DrillContext:
    """One drill run as the steps see it."""

    name: str
    spec: Drill
    manifest: Manifest
    result: DrillResult
    services: DrillServices
    base_dir: Path  # the app's working directory
    db: RestoredDb
    clock: Clock
    closing: ExitStack | None = field(default=None, repr=False)  # the running phase's; see defer()

    def defer(self, cleanup: Callable[[], Any]) -> None:
        """Run ``cleanup`` at the end of the current phase (an app started for readiness checks)."""
        assert self.closing is not None, "defer() outside a running step"
        self.closing.callback(cleanup)


@dataclass(frozen=True)
class Step:
    """One verification: ``run(ctx)`` inside the timed ``phase``."""

    name: str
    phase: str
    run: Callable[[DrillContext], StepResult]
