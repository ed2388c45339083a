"""Runbooks built directly from the model (no parser needed) and a config for running them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.config.load import Config
from opsbook.runbooks.model import Checklist, Item, Param, Runbook, Step
from tests.support.helpers import load

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def config(tmp_path: Path, extra: str = "") -> Config:
    return load(f"runbooks: {{step_timeout: 20s, require_approval: [production]{extra}}}\n", tmp_path)


def sh(name: str, body: str, **kw: Any) -> Step:
    return Step(name, "sh", body + "\n", 1, **kw)


def check(name: str, text: str, section: str = "main") -> Checklist:
    return Checklist(name, text, 1, section)  # type: ignore[arg-type]


def book(*items: Item, rollback: tuple[Item, ...] = (), name: str = "demo", params: tuple[Param, ...] = (),
         lock: str | None = None, env: tuple[str, ...] = (), version: str = "1") -> Runbook:
    back = tuple(Step(i.name, i.kind, i.body, i.line, "rollback", i.attrs, i.mutates, i.confirm, i.timeout,
                      i.retries, i.expect, i.save, i.when, i.continue_on_error) if isinstance(i, Step) else i
                 for i in rollback)
    digest = hashlib.sha256(f"{name}:{version}:{items!r}".encode()).hexdigest()
    return Runbook(name, Path(f"{name}.md"), name, digest, params=params, env=env, lock=lock, items=tuple(items),
                   rollback=back)


class Clock:
    """A clock the test moves: starts at T0."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def statuses(rec: Any, section: str = "main") -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in rec.steps if s.section == section]


Factory = Callable[..., Runbook]
