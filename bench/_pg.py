"""What the benches that need a PostgreSQL database of their own share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql


@contextmanager
def scratch_database(admin_dsn: str, prefix: str = "opsbook_bench") -> Iterator[str]:
    """A new database ``<prefix>_<random>`` on the server of ``admin_dsn``, as a DSN; dropped
    afterwards (its sessions closed), also when the bench fails or is interrupted."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
