"""PLACEHOLDER (helper rbr): a minimal ``sh`` kind (subprocess, bounded output, timeout)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import Step
from .base import HEAD, TAIL, Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...config.load import Config


class Sh:
    name: ClassVar[str] = "sh"
    Attrs: ClassVar[type[BaseModel] | None] = None
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str], cfg: Config) -> Rendered:
        read_only = step.attrs.get("mutates") == "false"
        return Rendered("sh", step.body.strip(), "local shell", read_only, {"script": step.body})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
        env.update(ctx.values)
        start = time.monotonic()
        p = subprocess.Popen(["sh", "-c", str(rendered.spec["script"])], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, cwd=ctx.base_dir, start_new_session=True)
        assert p.stdout is not None
        head, tail, total, timed_out = bytearray(), bytearray(), 0, False
        os.set_blocking(p.stdout.fileno(), False)
        while True:
            chunk = p.stdout.read(65536)
            if chunk:
                total += len(chunk)
                if ctx.emit is not None:
                    ctx.emit(chunk)
                room = HEAD - len(head)
                head += chunk[:room]
                tail = (tail + chunk[room:])[-TAIL:] if len(chunk) > room else tail
                continue
            if chunk == b"" and p.poll() is not None:
                break
            if time.monotonic() - start > ctx.timeout:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                break
            time.sleep(0.01)
        code = p.wait()
        text = head.decode(errors="replace") + (("\n...\n" + tail.decode(errors="replace")) if tail else "")
        obs: dict[str, Any] = {"exit_code": code, "stdout": text, "stderr": "",
                               "duration": (time.monotonic() - start) * 1000}
        with contextlib.suppress(ValueError):
            obs["json"] = json.loads(text)
        return StepOutcome(obs, output=text, output_bytes=total,
                           error=f"timed out after {ctx.timeout:g}s" if timed_out else None, timed_out=timed_out)

    def lint(self, step: Step) -> list[str]:
        return []
