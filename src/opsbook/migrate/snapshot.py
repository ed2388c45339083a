"""The rollback fallback: a consistent copy of the source via SQLite's online backup API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import UsageError
from ..results import utcnow
from .source import connect_ro


def take_snapshot(source: Path, dest_dir: Path) -> Path:
    """Copy ``source`` to ``dest_dir/<name>.snapshot-<UTC timestamp>.db`` and return the path.

    The backup API copies a consistent image even while another process writes the source
    (the seed's step "stop writes" still matters for what gets migrated afterwards).
    """
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the snapshot directory {dest_dir}: {e.strerror}") from None
    dest = dest_dir / f"{source.name}.snapshot-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}.db"
    src = connect_ro(source)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
        dst.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        dst.close()
        src.close()
    return dest
