"""``opsbook smoke NAME``: run a smoke suite (the engine is opsbook.smoke) and record it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config.load import Config
from ..errors import UsageError
from .record import Recorder

if TYPE_CHECKING:
    from ..smoke import SmokeResult, StepResult


def run(cfg: Config, name: str, rec: Recorder, base_url: str | None = None,
        on_step: Callable[[StepResult], None] | None = None) -> SmokeResult:
    from ..smoke import run_smoke

    if name not in cfg.smoke:
        raise UsageError(f"no smoke suite named {name!r}", hint=f"defined: {', '.join(cfg.smoke) or '(none)'}")
    result = asyncio.run(run_smoke(cfg, name, base_url, on_step=on_step))
    rec.record("smoke", name, ok=result.ok, detail=result.to_dict())
    return result
