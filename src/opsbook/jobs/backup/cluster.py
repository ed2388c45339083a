"""A throwaway PostgreSQL cluster for restore drills: initdb in a temp dir, pg_ctl start, stop, remove.

initdb refuses to run as root, so as root every server program (initdb, pg_ctl and the postgres
it starts) runs as the ``postgres`` system user through ``runuser -u postgres --`` (or
``su postgres -c``), with the temp directory given to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from ...config.backups import DrillCluster
from ...errors import CouldNotRun
from .tools import stderr_tail

RUN_AS = "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path)) or (0,)


def find_bin_dir(configured: str | None) -> str:
    """Where initdb and pg_ctl are: ``bin_dir:``, else ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin``, else the directory of ``initdb`` on PATH."""
    candidates: list[str] = []
    if configured:
        candidates.append(os.path.expanduser(configured))
    else:
        pg_config = shutil.which("pg_config")
        if pg_config:
            try:
                out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
                if out.returncode == 0 and out.stdout.strip():
                    candidates.append(out.stdout.strip())
            except (OSError, subprocess.TimeoutExpired):
                pass
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        initdb = shutil.which("initdb")
        if initdb:
            candidates.append(str(Path(initdb).resolve().parent))
    for c in candidates:
        if all(os.access(os.path.join(c, p), os.X_OK) for p in ("initdb", "pg_ctl")):
            return c
    raise CouldNotRun(
        "initdb/pg_ctl not found" + (f" in {candidates[0]}" if configured else ""),
        hint="install the PostgreSQL server package (Debian/Ubuntu: apt-get install postgresql), "
             "or set cluster: {bin_dir: /usr/lib/postgresql/16/bin}",
        retryable=False,
    )


def _as_user_prefix() -> list[str] | None:
    """How to run a command as the postgres user when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        raise CouldNotRun(
            "a throwaway cluster cannot be created as root: initdb refuses to run as root and there is "
            f"no {RUN_AS!r} system user to run it as",
            hint=f"create the user (useradd --system {RUN_AS}), run opsbook as a non-root user, "
                 "or use target: (an existing server) instead of cluster:",
            retryable=False,
        ) from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", RUN_AS, "--"]
    su = shutil.which("su")
    if su:
        return [su, RUN_AS, "-s", "/bin/sh", "-c"]  # the command follows as one shell string
    raise CouldNotRun(
        "running as root, and neither runuser nor su is available to run initdb as the postgres user",
        hint="install util-linux (runuser), run opsbook as a non-root user, or use target: instead of cluster:",
        retryable=False,
    )


class ThrowawayCluster:
    """``start()`` -> ``dsn`` (trust auth, user postgres, 127.0.0.1:port) -> ``close(keep)``."""

    def __init__(self, spec: DrillCluster) -> None:
        self.spec = spec
        self.bin_dir = ""
        self.dir: Path | None = None
        self.port = 0
        self.running = False
        self._prefix: list[str] | None = None

    @property
    def data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, what: str, argv: list[str], timeout: float = 120) -> None:
        if self._prefix is None:
            cmd = argv
        elif self._prefix[-1] == "-c":  # su ... -c "command"
            cmd = [*self._prefix, shlex.join(argv)]
        else:
            cmd = [*self._prefix, *argv]
        assert self.dir is not None
        with tempfile.TemporaryFile() as out:
            try:
                rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.dir, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                raise CouldNotRun(f"{what} did not finish within {timeout:g}s", retryable=False) from None
            except OSError as e:
                raise CouldNotRun(f"cannot run {argv[0]}: {e.strerror}", retryable=False) from None
            if rc != 0:
                out.seek(0)
                text = stderr_tail(out.read())
                log = self.dir / "server.log"
                if what == "pg_ctl start" and log.exists():
                    text += " | server log: " + stderr_tail(log.read_bytes(), 400)
                raise CouldNotRun(
                    f"{what} of the throwaway cluster failed (status {rc}): {text}",
                    hint=(f"as root it runs as the {RUN_AS} user, who must be able to reach {self.dir} "
                          "(set OPSBOOK_TMPDIR to a directory it can traverse)")
                    if self._prefix else "check the server binaries (cluster: bin_dir:)",
                    retryable=False,
                )

    def start(self) -> str:
        self.bin_dir = find_bin_dir(self.spec.bin_dir)
        self._prefix = _as_user_prefix()
        self.dir = Path(tempfile.mkdtemp(prefix="opsbook-drill-cluster-", dir=os.environ.get("OPSBOOK_TMPDIR")))
        if self._prefix is not None:
            pw = pwd.getpwnam(RUN_AS)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", [os.path.join(self.bin_dir, "initdb"), "-D", str(self.data), "-U", "postgres",
                             "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"])
        for attempt in range(3):
            self.port = self.spec.port or _free_port()
            opts = (f"-p {self.port} -k {shlex.quote(str(self.dir))} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c full_page_writes=off")
            try:
                self._run("pg_ctl start", [os.path.join(self.bin_dir, "pg_ctl"), "-D", str(self.data),
                                           "-l", str(self.dir / "server.log"), "-o", opts, "-w", "-t", "60",
                                           "start"])
                break
            except CouldNotRun:
                # a free port taken between picking and binding: try another one
                if self.spec.port or attempt == 2 or "could not bind" not in self._log():
                    raise
        self.running = True
        return self.dsn

    def _log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace") if self.dir else ""
        except OSError:
            return ""

    def stop(self) -> None:
        # also after a failed start: pg_ctl -w may give up while the server is still coming up
        if self.dir is not None and (self.running or (self.data / "postmaster.pid").exists()):
            try:
                self._run("pg_ctl stop", [os.path.join(self.bin_dir, "pg_ctl"), "-D", str(self.data),
                                          "-m", "fast", "-w", "-t", "60", "stop"])
            finally:
                self.running = False

    def close(self, keep: bool = False) -> None:
        """Stop the server; remove the directory unless ``keep`` (a failed drill, --keep)."""
        try:
            self.stop()
        finally:
            if not keep and self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
