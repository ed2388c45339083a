"""The parts of a rollback that run things: the rollback command (a real child process without
opsbook's secret environment, with a timeout and bounded output), the rollback runbook (run
non-interactively through ops/runbook.py), and the verify gates (ready, smoke, checks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..checks.command import Capture, child_env
from ..config.secrets import redactor
from ..errors import OpsbookError, UsageError
from ..store import Store
from .record import Recorder

if TYPE_CHECKING:
    from ..config.load import Config
    from ..config.releases import Rollback as RollbackConfig
    from ..config.releases import Verify
    from .release import Gate


@dataclass(frozen=True)
class Ran:
    ok: bool
    message: str
    exit_code: int | None = None
    output: str = ""
    runbook_run: int | None = None


def command_args(command: str, version: str, env: str) -> list[str]:
    """Split like a shell, then substitute: a version can never become two arguments or an option."""
    try:
        args = shlex.split(command)
    except ValueError as e:
        raise UsageError(f"rollback command cannot be split: {e}") from None
    return [a.replace("${version}", version).replace("${env}", env) for a in args]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_command(cfg: Config, rb: RollbackConfig, version: str, env: str) -> Ran:
    assert rb.command is not None
    args = command_args(rb.command, version, env)
    cwd = str(cfg.base_dir / rb.cwd) if rb.cwd else str(cfg.base_dir)
    shown = shlex.join(args)
    try:
        proc = subprocess.Popen(args, cwd=cwd, env=child_env({}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        return Ran(False, f"rollback command not found: {args[0]}")
    except OSError as e:
        return Ran(False, f"rollback command cannot start: {e.strerror}")
    cap = Capture()

    def pump() -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 64 * 1024):  # what is there, not a full buffer: the tail stays current
            cap.feed(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=rb.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        proc.wait(timeout=10)
    _kill(proc)  # anything it left running in its group
    reader.join(timeout=5)
    output = redactor.text(cap.text())
    if timed_out:
        return Ran(False, f"`{shown}` timed out after {rb.timeout:g}s", None, output)
    code = proc.returncode
    return Ran(code == 0, f"`{shown}` exited {code}", code, output)


def run_runbook(store: Store, cfg: Config, rb: RollbackConfig, version: str, env: str, actor: str,
                clock: Callable[[], datetime]) -> Ran:
    from ..runbooks.load import find
    from . import runbook as runbooks

    assert rb.runbook is not None
    book = find(cfg, rb.runbook)
    declared = {p.name for p in book.params}
    if "version" not in declared:
        raise UsageError(f"runbook {book.name} takes no parameter 'version'",
                         hint="a rollback runbook declares params: {version: {required: true}} (env is optional)")
    params = {k: v for k, v in (("version", version), ("env", env)) if k in declared}
    try:
        done = runbooks.run(store, cfg, book, params, actor, environment=env, yes=True, hooks=runbooks.Hooks(),
                            clock=clock)
    except OpsbookError as e:
        return Ran(False, f"runbook {book.name} could not run: {e.message}")
    status = done.run.status
    msg = f"runbook {book.name} run {done.run.id}: {status}"
    if status == "waiting":
        msg += f" (continue it with `opsbook runbook resume {done.run.id}`)"
    return Ran(status == "succeeded", msg, None, "", done.run.id)


def verify(cfg: Config, v: Verify, rec: Recorder, say: Callable[[str], None]) -> list[Gate]:
    """ready (polled up to ready_timeout), smoke suites, checks (once), in that order; all run."""
    from ..checks.registry import KINDS
    from . import gate, smoke
    from .release import Gate

    out: list[Gate] = []
    if v.ready:
        r = gate.ready(cfg, v.ready, v.ready_timeout, v.ready_interval, rec)
        out.append(Gate("ready", ", ".join(v.ready), r.ok, r.summary))
        say(f"  verify ready: {'pass' if r.ok else 'FAIL'}: {r.summary}")
    for name in v.smoke:
        s = smoke.run(cfg, name, rec)
        failed = [f"{st.name} ({st.status})" for st in s.steps if st.status not in ("pass", "skipped")]
        summary = "all steps passed" if s.ok else f"{s.status}: " + (", ".join(failed) or "no step passed")
        out.append(Gate("smoke", name, s.ok, summary))
        say(f"  verify smoke {name}: {'pass' if s.ok else 'FAIL'}: {summary}")
    if v.checks:
        start = time.monotonic()
        c = asyncio.run(gate.wait_ready(cfg, KINDS, v.checks, timeout=0.0, interval=0.0))
        bad = [f"{x.name} ({x.summary})" for x in c.failing]
        summary = "all passed" if c.ok else "failing: " + ", ".join(bad)
        out.append(Gate("checks", ", ".join(v.checks), c.ok, summary))
        say(f"  verify checks: {'pass' if c.ok else 'FAIL'}: {summary} ({time.monotonic() - start:.1f}s)")
    return out
