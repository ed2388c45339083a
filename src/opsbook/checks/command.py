"""``command``: run a local command with a timeout; exit code and output are observations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import time
from typing import Any, ClassVar

from pydantic import Field

from ..config.models import CheckParams
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

MAX_OUTPUT = 64 * 1024  # bytes of stdout/stderr kept; a runaway command must not fill memory


class CommandParams(CheckParams):
    run: str | list[str] = Field(description="a shell command line, or an argv list run without a shell")
    cwd: str | None = None
    env: dict[str, Secret] = Field(default_factory=dict)
    parse_json: bool = Field(default=False, description="parse stdout as JSON into the json observation")


class CommandCheck:
    name: ClassVar[str] = "command"
    Params: ClassVar[type[CheckParams]] = CommandParams
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ()
    observations: ClassVar[dict[str, str]] = {
        "exit_code": "the command's exit status (negative: killed by that signal)",
        "stdout": "standard output, up to 64 KiB",
        "stderr": "standard error, up to 64 KiB",
        "json": "stdout parsed as JSON when parse_json: true",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: CommandParams = params
        env = dict(os.environ)
        for k, v in p.env.items():
            env[k] = reveal(v, f"env.{k}") or ""
        cwd = os.path.join(ctx.base_dir, p.cwd) if p.cwd else ctx.base_dir
        start = time.perf_counter()
        try:
            if isinstance(p.run, list):
                proc = await asyncio.create_subprocess_exec(
                    *p.run, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )
            else:
                proc = await asyncio.create_subprocess_shell(
                    p.run, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )
        except FileNotFoundError as e:
            raise ProbeError(f"command not found: {e.filename or p.run}",
                             hint="check the path, or install the program", retryable=False) from None
        except OSError as e:
            raise ProbeError(f"cannot start command: {e.strerror}", retryable=False) from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=ctx.timeout)
        except (TimeoutError, asyncio.CancelledError):
            # kill the whole process group, not only the shell
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 2)
            raise ProbeError(f"command timed out after {ctx.timeout:g}s",
                             hint="raise timeout: or make the command faster") from None
        elapsed = (time.perf_counter() - start) * 1000
        stdout = out[:MAX_OUTPUT].decode("utf-8", "replace")
        stderr = err[:MAX_OUTPUT].decode("utf-8", "replace")
        obs: dict[str, Any] = {
            "exit_code": proc.returncode,
            "stdout": stdout,
            "stderr": stderr,
            "duration": round(elapsed, 3),
        }
        if p.parse_json:
            try:
                obs["json"] = json.loads(stdout)
            except ValueError as e:
                raise ProbeError(f"stdout is not JSON: {e}", retryable=False) from None
        cmd = p.run if isinstance(p.run, str) else shlex.join(p.run)
        return Probe(obs, f"`{cmd[:60]}` exited {proc.returncode}")


KIND = CommandCheck()
