"""Start the bundled demo service as a real subprocess on a free port, for tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from helpers import free_port


@dataclass
class Service:
    url: str
    port: int
    db: Path
    proc: subprocess.Popen[bytes]


@contextmanager
def demo_service(
    tmp_path: Path, ready_after: float = 0.0, fault_file: Path | None = None
) -> Iterator[Service]:
    port = free_port()
    db = tmp_path / "demo.db"
    cmd = [sys.executable, "-m", "opsbook.demo.app", "--port", str(port), "--db", str(db),
           "--ready-after", str(ready_after)]
    if fault_file is not None:
        cmd += ["--fault-file", str(fault_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"demo service did not start: {err}")
            time.sleep(0.05)
        yield Service(url, port, db, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
