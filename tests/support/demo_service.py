"""Start the bundled demo service as a real subprocess on a free port, for tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opsbook.demo.run import start_service, stop_service
from tests.support.helpers import free_port


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
    proc = start_service(tmp_path, port, ready_after=ready_after, fault_file=fault_file)
    try:
        yield Service(f"http://127.0.0.1:{port}", port, tmp_path / "demo.db", proc)
    finally:
        stop_service(proc)
