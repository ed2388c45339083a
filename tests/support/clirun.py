"""Run the real `opsbook` CLI in a separate process, as a user would (forked from a warm parent,
tests/support/zygote.py, so each command does not pay the imports again)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def opsbook(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Run:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    warm = None if os.environ.get("OPSBOOK_TEST_SUBPROCESS") else _zygote()
    if warm is not None:
        return _forked(warm, list(args), cwd, full_env, timeout)
    p = subprocess.run(
        [sys.executable, "-m", "opsbook", *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    return Run(p.returncode, p.stdout, p.stderr)


_ZYGOTE: dict[str, Any] = {}


def _zygote() -> str | None:
    """The socket of this test process' warm parent (tests/support/zygote.py), started on first
    use; None (plain subprocesses) if it cannot start."""
    proc = _ZYGOTE.get("proc")
    if proc is not None and proc.poll() is None:
        return str(_ZYGOTE["path"])
    folder = tempfile.mkdtemp(prefix="opsbook-zygote-")
    path = os.path.join(folder, "sock")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("zygote.py")), path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env,
                            cwd=str(Path(__file__).parents[2]))
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
        return None
    _ZYGOTE.update(proc=proc, path=path)

    def stop() -> None:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return path


def _forked(path: str, args: list[str], cwd: Path | None, env: dict[str, str], timeout: float) -> Run:
    """One command as a child of the warm parent: its stdin is /dev/null, its stdout and stderr
    files read back as text (newlines translated, like ``text=True``)."""
    body = json.dumps({"args": args, "cwd": str(cwd or os.getcwd()), "env": env}).encode()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            open(os.devnull, "rb") as devnull, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        socket.send_fds(s, [f"{len(body):>16}".encode()], [devnull.fileno(), out.fileno(), err.fileno()])
        s.sendall(body)
        s.settimeout(timeout)
        reply = s.makefile("rb")
        pid = 0
        try:  # its pid as it starts, then its exit code: the timeout covers both
            pid = int(reply.readline() or b"0")
            line = reply.readline()
        except TimeoutError:
            if pid:
                with contextlib.suppress(ProcessLookupError):  # it may end as we give up on it
                    os.kill(pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(["opsbook", *args], timeout) from None
        code = int(line.split()[1]) if line.startswith(b"exit ") else -signal.SIGKILL

        def text(f: Any) -> str:
            f.seek(0)
            return str(f.read().decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n"))

        return Run(code, text(out), text(err))


def in_a_terminal(*args: str, cwd: Path, answer: bytes = b"y", at_most: int | None = None,
                  env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    """`python -m opsbook ARGS` on a pseudo-terminal (so it asks), answering each "[y/N]" question
    it prints with ``answer`` (the first ``at_most`` of them when given). Everything it printed is
    ``stdout``: a terminal has one stream."""
    import pty
    import time

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "opsbook", *args], cwd=cwd, stdin=slave, stdout=slave,
                         stderr=slave, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    os.close(slave)
    seen = b""
    try:
        deadline, answered = time.monotonic() + timeout, 0
        while p.poll() is None and time.monotonic() < deadline:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
            if seen.count(b"[y/N]") > answered and (at_most is None or answered < at_most):
                answered += 1
                os.write(master, answer + b"\n")
        p.wait(timeout=30)
        while True:  # what it printed just before it exited is still in the terminal's buffer
            try:
                chunk = os.read(master, 4096)
            except OSError:  # its side is closed and the buffer empty
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return Run(p.returncode, seen.decode(errors="replace"), "")
