"""CPU seconds of the PostgreSQL server processes serving one database, for the benches."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg


class ServerCpu:
    """CPU seconds of the server backends (and parallel workers) connected to one database,
    sampled from /proc every 50 ms while they are connected.

    The server is shared (other jobs, the other tool's database), so the machine's total CPU
    would not say what one side cost. The last <50 ms of a short-lived backend can be missed:
    a slight undercount."""

    def __init__(self, admin: str, db: str) -> None:
        self.admin, self.db = admin, db
        self.seen: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            while not self.stop.is_set():
                for (pid,) in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db,)).fetchall():
                    try:
                        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seen[pid] = max(self.seen.get(pid, 0), int(f[11]) + int(f[12]))
                self.stop.wait(0.05)

    def __enter__(self) -> ServerCpu:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) / os.sysconf("SC_CLK_TCK")
