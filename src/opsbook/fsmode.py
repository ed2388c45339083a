"""Files opsbook writes are private: files 0600, directories 0700 (docs/config.md, "Files and modes").

The store, backups, migration snapshots, drill reports and notification logs hold data and
sometimes secrets, so nothing is created readable by other local users whatever the umask.
The CLI also sets a 077 umask (``private_umask``) so that files created by SQLite (the WAL
and SHM) and by child processes (pg_dump, pg_restore) are private too; the helpers below
give the same modes when opsbook is used as a library under a looser umask.

An existing directory or file keeps its mode (it may be shared on purpose); the store gets a
warning when it is open to other users (``warn_if_exposed``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077

_warned: set[str] = set()


def private_umask() -> None:
    """Everything this process (and its children) creates from now on is private."""
    os.umask(UMASK)


def private_dir(path: Path) -> Path:
    """``mkdir -p`` with every directory it creates 0700 (``Path.mkdir(parents=True)`` gives the
    missing parents the umask's mode). Existing directories are left alone."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(d, DIR_MODE)  # mkdir's mode is also filtered by the umask: say it exactly
    return path


def open_private(path: Path, mode: str = "wb", *, exclusive: bool = False) -> IO[Any]:
    """``open(path, mode)`` creating the file 0600. ``mode``: "wb", "ab", "w" or "a" (text is UTF-8).
    An existing file keeps its mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    if exclusive:
        flags |= os.O_EXCL
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: str | bytes) -> None:
    """Write a whole file, created 0600."""
    with open_private(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist yet (e.g. a SQLite database before
    sqlite3 creates it with the umask's mode; SQLite gives its WAL and SHM the database's mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def exposed(path: Path, bits: int = 0o077) -> int | None:
    """The permission bits of ``path`` when some of ``bits`` are set, else None (or missing)."""
    try:
        m = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return m if m & bits else None


def warn_if_exposed(db_file: Path) -> None:
    """Warn once per process (on stderr) when the store, its WAL/SHM or its directory is open
    to other local users, naming the fix. Only warns: the operator may share it on purpose.

    Files: any group/other bit. The directory: group/other write (others could replace the
    store or plant its WAL); a listable directory exposes names only, not the data."""
    files = [db_file, *(db_file.with_name(db_file.name + s) for s in ("-wal", "-shm"))]
    loose = [(p, m) for p in files if (m := exposed(p)) is not None]
    d = db_file.parent
    # a sticky shared directory (/tmp) does not let others replace the store: nothing to fix there
    dir_mode = exposed(d, 0o022) if exposed(d, stat.S_ISVTX) is None else None
    key = str(db_file.resolve()) if db_file.exists() else str(db_file)
    if (not loose and dir_mode is None) or key in _warned:
        return
    _warned.add(key)
    for p, m in loose:
        sys.stderr.write(f"warning: the store file {p} is readable by other users (mode {m:04o}): "
                         f"run `chmod 600 {p}`\n")
    if dir_mode is not None:
        sys.stderr.write(f"warning: the store directory {d} is writable by other users (mode {dir_mode:04o}): "
                         f"run `chmod 700 {d}`\n")
