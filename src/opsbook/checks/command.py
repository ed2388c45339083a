"""``command``: run a local command with a timeout; exit code and output are observations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..config.models import CheckParams
from ..config.secrets import Secret, redactor, reveal, secret_env_names
from ..durations import parse_size
from ..errors import NotJsonError, ProbeError
from .base import Probe, ProbeContext

MAX_OUTPUT = 64 * 1024  # bytes kept of the start and of the end of stdout and of stderr
_CHUNK = 64 * 1024
STDERR_TAIL = 1000  # characters of stderr quoted in an error message


class CommandParams(CheckParams):
    run: str | list[str] = Field(description="a shell command line, or an argv list run without a shell")
    cwd: str | None = None
    env: dict[str, Secret] = Field(default_factory=dict)
    parse_json: bool = Field(default=False, description="parse stdout as JSON into the json observation")
    max_output: int | None = Field(
        default=None, gt=0,
        description="kill the command once it has written this much (stdout and stderr, e.g. 10MB)")

    @field_validator("max_output", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return None if v is None else parse_size(v)


class Capture:
    """The first and the last ``MAX_OUTPUT`` bytes of a stream and its size: the middle is
    dropped as it arrives, so a command printing gigabytes costs no more memory than one
    printing 128 KiB."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = MAX_OUTPUT - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > MAX_OUTPUT:
                del self.tail[:-MAX_OUTPUT]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return bytes(self.head + self.tail).decode("utf-8", "replace")
        omitted = self.total - len(self.head) - len(self.tail)
        return (self.head.decode("utf-8", "replace") + f"\n[... {omitted} bytes omitted ...]\n"
                + self.tail.decode("utf-8", "replace"))


def child_env(explicit: dict[str, str]) -> dict[str, str]:
    """The environment a command starts with: ours without the variables secret references
    read, nor any whose value holds a known secret (a command's output is stored and shown), plus
    what the check's ``env:`` lists."""
    hidden = secret_env_names()
    env = {k: v for k, v in os.environ.items() if k not in hidden and redactor.text(v) == v}
    env.update(explicit)
    return env


async def _pump(stream: asyncio.StreamReader | None, cap: Capture, over: Callable[[], bool]) -> None:
    if stream is None:
        return
    done = False
    while chunk := await stream.read(_CHUNK):
        if done:
            # killed at max_output: keep reading (and dropping) to EOF. A pipe left unread stops
            # being read by asyncio once its buffer is full, never sees EOF, and wait() then hangs
            # until the check's timeout.
            continue
        cap.feed(chunk)
        done = over()


def _kill(proc: asyncio.subprocess.Process) -> None:
    # the whole process group, not only the shell
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class CommandCheck:
    name: ClassVar[str] = "command"
    Params: ClassVar[type[CheckParams]] = CommandParams
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ()
    observations: ClassVar[dict[str, str]] = {
        "exit_code": "the command's exit status (negative: killed by that signal)",
        "stdout": "standard output: all of it, or its first and last 64 KiB",
        "stderr": "standard error: all of it, or its first and last 64 KiB",
        "stdout_bytes": "how many bytes the command wrote to stdout",
        "stderr_bytes": "how many bytes the command wrote to stderr",
        "truncated": "true when output was cut (more than 128 KiB on a stream, or killed at max_output)",
        "json": "stdout parsed as JSON when parse_json: true",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: CommandParams = params
        env = child_env({k: reveal(v, f"env.{k}") or "" for k, v in p.env.items()})
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
        out, err = Capture(), Capture()
        capped = False

        def over() -> bool:
            nonlocal capped
            if p.max_output is not None and out.total + err.total > p.max_output and not capped:
                capped = True
                _kill(proc)
            return capped

        try:
            await asyncio.wait_for(
                asyncio.gather(_pump(proc.stdout, out, over), _pump(proc.stderr, err, over), proc.wait()),
                timeout=ctx.timeout)
        except (TimeoutError, asyncio.CancelledError):
            _kill(proc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 2)
            raise ProbeError(f"command timed out after {ctx.timeout:g}s",
                             hint="raise timeout: or make the command faster") from None
        elapsed = (time.perf_counter() - start) * 1000
        stdout, stderr = out.text(), err.text()
        obs: dict[str, Any] = {
            "exit_code": proc.returncode,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_bytes": out.total,
            "stderr_bytes": err.total,
            "truncated": capped or out.truncated or err.truncated,
            "duration": round(elapsed, 3),
        }
        cmd = p.run if isinstance(p.run, str) else shlex.join(p.run)
        if p.parse_json:
            obs["json"] = _parse_json(cmd, proc.returncode, out, stderr)
        summary = f"`{cmd[:60]}` exited {proc.returncode}"
        if capped:
            summary += f", killed after {out.total + err.total} bytes of output (max_output)"
        elif obs["truncated"]:
            summary += f" (output cut: {out.total} bytes on stdout, {err.total} on stderr; first and last 64 KiB kept)"
        return Probe(obs, summary)


def _parse_json(cmd: str, exit_code: int | None, out: Capture, stderr: str) -> Any:
    if not out.truncated:
        try:
            return json.loads(out.text())
        except ValueError as e:
            why = str(e)
    else:
        why = f"{out.total} bytes were written, more than the 128 KiB kept"
    tail = stderr[-STDERR_TAIL:].strip()
    message = f"`{cmd[:60]}` exited {exit_code} and its stdout is not JSON ({why})"
    if tail:
        message += f"; stderr: {tail}"
    hint = ("the command failed before printing its JSON; see its stderr" if exit_code
            else "make the command print one JSON document on stdout")
    raise NotJsonError(message, exit_code, tail, hint=hint)


KIND = CommandCheck()
