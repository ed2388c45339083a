"""The app of a drill's ``app:``: started against the restored database, stopped with its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from ...config.backups import DrillApp
from ..backup.tools import stderr_tail


class App:
    """``command`` in its own session with ``env_var`` set to the restored database; output to a temp file."""

    def __init__(self, spec: DrillApp, target: str, cwd: Path) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        env = {**os.environ, spec.env_var: target}
        try:
            self.proc = subprocess.Popen(spec.command, shell=True, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=cwd)
        except BaseException:
            self.log.close()
            raise

    def exited(self) -> str | None:
        """Why the app is gone (its status and the tail of its output), or None while it runs."""
        if self.proc.poll() is None:
            return None
        self.log.seek(0)
        return f"the app exited with status {self.proc.returncode}: {stderr_tail(self.log.read(), 300)}"

    def stop(self) -> None:
        try:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                # ProcessLookupError: the group is gone already (the app exited by itself)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        finally:
            self.log.close()
