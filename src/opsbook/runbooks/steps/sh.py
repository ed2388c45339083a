"""PLACEHOLDER until helper rbs lands: a minimal ``sh`` step kind. Replaced at merge."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from ..model import Step
from .base import HEAD, Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...config.load import Config


class Sh:
    name: ClassVar[str] = "sh"
    Attrs: ClassVar[type[BaseModel] | None] = None
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        return Rendered("sh", step.body, "local shell", step.attrs.get("mutates") == "false", {"script": step.body})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        env = {k: os.environ.get(k, "") for k in ("PATH", "HOME", "LANG", "TZ")} | dict(ctx.values)
        start = time.monotonic()
        try:
            p = subprocess.run(["sh", "-c", rendered.spec["script"]], capture_output=True, timeout=ctx.timeout,
                               env=env, cwd=ctx.base_dir)
        except subprocess.TimeoutExpired:
            return StepOutcome({"exit_code": None}, error="timed out", timed_out=True)
        out = p.stdout[:HEAD].decode(errors="replace")
        return StepOutcome({"exit_code": p.returncode, "stdout": out.strip(),
                            "stderr": p.stderr[:HEAD].decode(errors="replace"),
                            "duration": (time.monotonic() - start) * 1000}, out, len(p.stdout))

    def lint(self, step: Step) -> list[str]:
        return []
