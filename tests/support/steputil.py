"""Runbook step kinds called directly, without a runner: build a Step, render it, run it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from opsbook.config.load import Config
from opsbook.runbooks.model import Step
from opsbook.runbooks.steps.base import Rendered, StepContext, StepOutcome
from opsbook.runbooks.steps.registry import STEPS


def step(kind: str, body: str, name: str = "s", **attrs: str) -> Step:
    return Step(name=name, kind=kind, body=body, line=1, attrs=dict(attrs),
                mutates=attrs.get("mutates") == "true")


class Emitted:
    """An ``emit`` that keeps what it was given (and how much)."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.chunks: list[bytes] = []
        self.total = 0

    def __call__(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.keep:
            self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


def render(cfg: Config, s: Step, values: Mapping[str, str] | None = None,
           secrets: frozenset[str] = frozenset()) -> Rendered:
    return STEPS[s.kind].render(s, dict(values or {}), secrets, cfg)


def run(cfg: Config, s: Step, values: Mapping[str, str] | None = None, secrets: frozenset[str] = frozenset(),
        timeout: float = 30, emit: Emitted | None = None) -> tuple[Rendered, StepOutcome]:
    r = render(cfg, s, values, secrets)
    ctx = StepContext(cfg=cfg, base_dir=cfg.base_dir, timeout=timeout, values=dict(values or {}),
                      secret_names=secrets, emit=emit)
    return r, STEPS[s.kind].run(r, ctx)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for a parent that will never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def gone(pid: int, within: float = 10) -> bool:
    """Waits (bounded) for a signalled process to be gone: killing is asynchronous."""
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def kill_quietly(pid: int) -> None:
    import contextlib
    import signal
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
