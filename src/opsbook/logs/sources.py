"""Where a source's bytes come from: files (globs, rotated and .gz files, oldest first), a command's
stdout (with a deadline), or stdin. An unreachable source is ``LogSourceUnreachable`` (exit 3)."""

from __future__ import annotations

import contextlib
import glob
import io
import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from ..config.logs import LogSource
from ..config.secrets import redactor, secret_env_names
from ..errors import LogSourceUnreachable

CHUNK = 4 * 1024 * 1024  # bytes read at a time (measured: 1-16 MiB read alike; 4 keeps RSS small)
_ROTATION = re.compile(r"\.(\d+)(?:\.gz)?$")
STDERR_TAIL = 500


@dataclass(frozen=True)
class FileUnit:
    """A byte range of one plain file, or a whole .gz file (end == -1), read by one worker."""

    path: str
    start: int
    end: int

    @property
    def gz(self) -> bool:
        return self.path.endswith(".gz")


def _rotation_key(path: str) -> tuple[float, int]:
    # oldest first: by last write; on a tie api.log.2 before api.log.1 before api.log
    m = _ROTATION.search(path)
    return os.stat(path).st_mtime, -(int(m.group(1)) if m else -1)


def files_of(name: str, src: LogSource, base_dir: str, since: float | None = None) -> list[str]:
    """The files a path source names, oldest first; files last written before ``since`` hold no
    line of the window and are left out."""
    patterns = [src.path] if isinstance(src.path, str) else list(src.path or [])
    found: dict[str, None] = {}
    for pat in patterns:
        full = os.path.join(base_dir, os.path.expanduser(pat))
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else ([full] if os.path.exists(full) else [])
        if not matches:
            raise LogSourceUnreachable(
                f"log source {name!r}: no file matches {pat}",
                hint="check logs.sources." + name + ".path (relative to the config's directory), "
                     "or that the service writes its log there")
        for m in matches:
            if os.path.isfile(m):
                found[m] = None
    files = []
    for f in found:
        try:
            key = _rotation_key(f)
        except OSError as e:
            raise LogSourceUnreachable(f"log source {name!r}: cannot read {f}: {e.strerror}",
                                       hint="check the file's permissions") from None
        if since is None or key[0] >= since:
            files.append((key, f))
        if not os.access(f, os.R_OK):
            raise LogSourceUnreachable(f"log source {name!r}: cannot read {f}: permission denied",
                                       hint="run as a user who may read it, or adjust its permissions")
    return [f for _, f in sorted(files)]


def split(path: str, parts: int, max_line: int) -> list[FileUnit]:
    """``parts`` byte ranges of a plain file, each starting at a line's start."""
    if path.endswith(".gz"):
        return [FileUnit(path, 0, -1)]
    size = os.path.getsize(path)
    if parts <= 1 or size == 0:
        return [FileUnit(path, 0, size)]
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(bounds[-1], size * i // parts))
            buf = f.read(max_line + 1)
            nl = buf.find(b"\n")
            if nl < 0:
                continue
            cut = f.tell() - len(buf) + nl + 1
            if bounds[-1] < cut < size:
                bounds.append(cut)
    bounds.append(size)
    return [FileUnit(path, a, b) for a, b in itertools.pairwise(bounds) if b > a]


def read_unit(unit: FileUnit, chunk: int = CHUNK) -> Iterator[bytes]:
    if unit.gz:
        import gzip

        with gzip.open(unit.path, "rb") as g:
            while data := g.read(chunk):
                yield data
        return
    with open(unit.path, "rb", buffering=0) as f:
        f.seek(unit.start)
        left = unit.end - unit.start
        while left > 0:
            data = f.read(min(chunk, left))
            if not data:
                break
            left -= len(data)
            yield data


def _child_env() -> dict[str, str]:
    # like a command check: no variable a secret reference reads, none holding a known secret
    hidden = secret_env_names()
    return {k: v for k, v in os.environ.items() if k not in hidden and redactor.text(v) == v}


def read_command(name: str, src: LogSource, base_dir: str, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """The command's stdout as it comes; killed (its whole process group) at the source's
    timeout. A command that cannot start, fails or times out raises LogSourceUnreachable once
    its output is read."""
    cmd = src.command
    assert cmd is not None
    shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the child exits
    try:
        proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), cwd=base_dir, env=_child_env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True)
    except OSError as e:
        err.close()
        raise LogSourceUnreachable(f"log source {name!r}: cannot start `{shown[:80]}`: {e.strerror}",
                                   hint="check the command's path, or install the program") from None
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(src.timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        out = cast(io.BufferedReader, proc.stdout)
        while data := out.read1(chunk):
            yield data
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    err.seek(0, os.SEEK_END)
    size = err.tell()
    err.seek(max(0, size - STDERR_TAIL))
    tail = redactor.text(err.read().decode("utf-8", "replace").strip())
    err.close()
    if timed_out.is_set():
        raise LogSourceUnreachable(f"log source {name!r}: `{redactor.text(shown[:80])}` timed out after "
                                   f"{src.timeout:g}s", hint=f"raise logs.sources.{name}.timeout, or narrow the "
                                                           "command (e.g. --since)")
    if code != 0:
        raise LogSourceUnreachable(
            f"log source {name!r}: `{redactor.text(shown[:80])}` exited {code}" + (f": {tail}" if tail else ""),
            hint="run the command by hand to see why (logged in? the right app name?)")


def read_stdin(chunk: int = CHUNK) -> Iterator[bytes]:
    stream = sys.stdin.buffer
    while data := stream.read(chunk):
        yield data


def describe(src: LogSource) -> str:
    if src.path is not None:
        return ", ".join([src.path] if isinstance(src.path, str) else src.path)
    if src.command is not None:
        return "$ " + (src.command if isinstance(src.command, str) else shlex.join(src.command))
    return "stdin"


def is_file(src: LogSource) -> bool:
    return src.path is not None

