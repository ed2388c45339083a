"""What several step kinds share: their own attributes, the child's environment, running a child
process with a deadline and bounded output, and showing values without secrets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ...config.secrets import REDACTED, redactor
from ...errors import UsageError
from ..model import Step
from ..template import REF
from .output import LineEmitter, Sink

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# attributes every step may have (model.Step's fields); the rest belong to the kind
COMMON_ATTRS = frozenset({"name", "mutates", "confirm", "timeout", "retries", "expect", "save", "when",
                          "continue_on_error"})
BASE_ENV = ("PATH", "HOME", "LANG", "TZ")
TERM_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a step past its timeout
DRAIN = 1.0  # seconds we keep reading after the child exits (a background process may hold the pipe)
JSON_MAX = 1024 * 1024  # stdout bigger than this is not parsed into the json observation
_CHUNK = 64 * 1024
_JSONISH = re.compile(rb'\s*[\[{"]')  # objects, arrays, strings: not a bare word or number


def attrs(step: Step, model: type[M]) -> M:
    """The kind's own attributes of ``step`` validated by its ``Attrs`` model (file:line errors)."""
    own = {k: v for k, v in step.attrs.items() if k not in COMMON_ATTRS}
    try:
        return model.model_validate(own)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or step.kind
        raise UsageError(f"line {step.line}: step {step.name!r}: {where}: {first['msg']}",
                         hint=f"see docs/steps/{step.kind}.md") from None


def remember_secrets(values: Mapping[str, str], secret_names: frozenset[str]) -> None:
    """Secret values become redacted everywhere (the runner may already have done so)."""
    for n in secret_names:
        if n in values:
            redactor.add(values[n])


def base_env() -> dict[str, str]:
    """PATH, HOME, LANG, TZ from our environment, and nothing else of it (no secret a reference
    of the config reads, no token the operator exported for something else)."""
    return {k: os.environ[k] for k in BASE_ENV if k in os.environ and redactor.text(os.environ[k]) == os.environ[k]}


def shown(name: str, values: Mapping[str, str], secret_names: frozenset[str], quote: Callable[[str], str] = str) -> str:
    return REDACTED if name in secret_names else quote(values[name])


def show_known(text: str, values: Mapping[str, str], secret_names: frozenset[str]) -> str:
    """``${name}`` of known values replaced (secrets as ***); other ``${...}`` (a shell's own
    variables) left as written; any known secret written literally is masked too."""
    remember_secrets(values, secret_names)

    def one(m: re.Match[str]) -> str:
        return shown(m.group(1), values, secret_names) if m.group(1) in values else m.group(0)

    return redactor.text(REF.sub(one, text))


def maybe_json(data: bytes) -> Any:
    """``data`` parsed when it is one small JSON document, else None."""
    if not data or len(data) > JSON_MAX or not _JSONISH.match(data):
        return None
    try:
        return redactor.redact(json.loads(data))
    except ValueError:
        return None


@dataclass
class Finished:
    exit_code: int | None
    out: Sink
    err: Sink
    combined: Sink
    duration: float  # ms
    timed_out: bool
    error: str | None = None


def run_child(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float,
              emit: Callable[[bytes], None] | None) -> Finished:
    """Run ``argv`` in a new process group; stream stdout and stderr chunk by chunk into bounded
    sinks (and a line-buffered, redacted live view); at ``timeout`` end the whole group: SIGTERM,
    then SIGKILL after TERM_GRACE."""
    out, err, combined = Sink(), Sink(), Sink()
    live = LineEmitter(emit)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return Finished(None, out, err, combined, 0.0, False, f"cannot start {argv[0]}: {e.strerror}")
    except ValueError as e:  # a value holding a NUL byte cannot be an environment variable
        return Finished(None, out, err, combined, 0.0, False, f"cannot start {argv[0]}: {e}")
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    deadline = start + timeout
    timed_out = False
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now > exited_at + DRAIN:
                break  # the step is done; a process it left in the background keeps our pipe
            if now >= deadline:
                timed_out = True
                break
            wait = min(deadline - now, 0.2 if exited_at is None else exited_at + DRAIN - now)
            for key, _ in sel.select(max(0.0, wait)):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.feed(chunk)
                combined.feed(chunk)
                live.feed(chunk)
        if timed_out:
            _end_group(proc)
        else:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                _end_group(proc)
    finally:
        sel.close()
        live.close()
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            _signal(proc.pid, signal.SIGKILL)
            proc.wait()
    duration = round((time.monotonic() - start) * 1000, 3)
    error = f"timed out after {timeout:g}s; its process group was ended" if timed_out else None
    return Finished(proc.returncode, out, err, combined, duration, timed_out, error)


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (the shell and what it started), SIGKILL to what is left."""
    _signal(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(TERM_GRACE)
    _signal(proc.pid, signal.SIGKILL)  # children that outlived the shell, or ignored SIGTERM
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(TERM_GRACE)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from the synchronous ``run()``: in this thread when no event loop runs
    here, else in a thread of its own (a caller inside a loop must not be blocked by asyncio.run)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
