"""Small helpers shared by tests: load a config from text, run checks, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opsbook.checks.registry import KINDS
from opsbook.config.load import Config, load_config
from opsbook.plugins import PLUGINS
from opsbook.results import CheckResult
from opsbook.runner import run_checks


def load(text: str, tmp_path: Path | None = None, env: str | None = None) -> Config:
    text = textwrap.dedent(text)
    path = (tmp_path or Path.cwd()) / "opsbook.yaml"
    return load_config(path, PLUGINS, env=env, text=text)


def run(config: Config, *names: str) -> dict[str, CheckResult]:
    results = asyncio.run(run_checks(config, KINDS, names))
    return {r.name: r for r in results}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def outcome(result: CheckResult, expr: str) -> Any:
    for a in result.assertions:
        if a.expr == expr:
            return a
    raise KeyError(expr)


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free 127.0.0.1 port; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=0.1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
