"""Helpers for the daemon's process tests: a counting HTTP server and `opsbook serve` subprocesses."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.helpers import free_port


class Counting:
    """A real HTTP server on 127.0.0.1 counting requests per path; ``/slow`` answers after ``slow`` s."""

    def __init__(self, slow: float = 2.5) -> None:
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.port = free_port()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?")[0]
                with owner.lock:
                    owner.hits[path] += 1
                    owner.times.setdefault(path, []).append(time.time())
                if path == "/slow":
                    time.sleep(slow)
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]


@contextlib.contextmanager
def counting_server(slow: float = 2.5) -> Iterator[Counting]:
    srv = Counting(slow)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.server.shutdown()
        srv.server.server_close()


class Serve:
    """One `opsbook serve` subprocess, its output in files; always killed on exit."""

    def __init__(self, config: Path, *args: str, name: str = "serve", env: dict[str, str] | None = None) -> None:
        self.out = config.parent / f"{name}.out"
        self.err = config.parent / f"{name}.err"
        full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "opsbook", "serve", "--config", str(config), *args],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=full_env,
                                         cwd=config.parent, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def serving(config: Path, *args: str, name: str = "serve", env: dict[str, str] | None = None) -> Iterator[Serve]:
    s = Serve(config, *args, name=name, env=env)
    try:
        yield s
    finally:
        s.kill()


def wait_for(pred: Callable[[], Any], timeout: float = 15, what: str = "condition",
             log: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n--- log:\n{log()}" if log else ""))
