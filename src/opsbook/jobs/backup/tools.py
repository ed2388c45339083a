"""The external programs a backup runs (pg_dump, pg_restore, zstd, age) and how to call them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ...errors import CouldNotRun


def find(program: str, bin_dir: str | None = None, explicit: str | None = None) -> str:
    """The path of ``program``: an explicit path, else ``bin_dir/program``, else ``PATH``."""
    if explicit:
        path = os.path.expanduser(explicit)
    elif bin_dir:
        path = str(Path(os.path.expanduser(bin_dir)) / program)
    else:
        path = shutil.which(program) or ""
    if not path or not os.access(path, os.X_OK):
        hints = {
            "age": "install age (Debian/Ubuntu: apt-get install age; macOS: brew install age)",
            "zstd": "install zstd (apt-get install zstd / brew install zstd)",
        }
        raise CouldNotRun(
            f"{program} not found" + (f" at {path}" if path else " on PATH"),
            hint=hints.get(program, "install the PostgreSQL client tools, or set bin_dir: / pg_dump:"),
            retryable=False,
        )
    return path


def version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip("* ") if text else "unknown"


def libpq_args(dsn: str, **override: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment carrying it.

    A password on a command line is readable by every local user through ``ps``; libpq takes
    it from ``PGPASSWORD`` just as well.
    """
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    params.update(override)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo("", **params), env


def with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


@contextmanager
def identity_file(identity: str) -> Iterator[str]:
    """The age identity in a private temporary file (age -i takes a path), removed afterwards."""
    d = tempfile.mkdtemp(prefix="opsbook-age-")
    path = os.path.join(d, "identity.txt")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(identity.strip() + "\n")
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


def stderr_tail(data: bytes, limit: int = 600) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else "..." + text[-limit:]
