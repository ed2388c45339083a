"""The rollback fallback: a consistent copy of the source via SQLite's online backup API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import UsageError
from ..fsmode import create_private_file, private_dir
from ..results import utcnow
from .source import connect_ro


def take_snapshot(source: Path, dest_dir: Path) -> Path:
    """Copy ``source`` to ``dest_dir/<name>.snapshot-<UTC timestamp>.db`` and return the path.

    The backup API copies a consistent image even while another process writes the source
    (the seed's step "stop writes" still matters for what gets migrated afterwards).
    """
    try:
        private_dir(dest_dir)
    except OSError as e:
        raise UsageError(f"cannot create the snapshot directory {dest_dir}: {e.strerror}") from None
    dest = dest_dir / f"{source.name}.snapshot-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}.db"
    try:
        create_private_file(dest)  # a full copy of the database: 0600, as the source should be
    except OSError as e:
        raise UsageError(f"cannot create the snapshot {dest}: {e.strerror}") from None
    src = connect_ro(source)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
        dst.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        dst.close()
        src.close()
    return dest
