"""Scratch PostgreSQL databases for tests (server: 127.0.0.1:5432, trust auth, user postgres).

with scratch_database() as dsn: ...          # anywhere
def test_x(scratch_pg_database: str): ...    # as a fixture, after
                                             # `scratch_pg_database = pgutil.scratch_pg_database`
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

PG_HOST = os.environ.get("OPSBOOK_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("OPSBOOK_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("OPSBOOK_TEST_PG_USER", "postgres")
ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"


def dsn_for(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


@contextmanager
def scratch_database(prefix: str = "opsbook_test", template: str | None = None) -> Iterator[str]:
    """Create ``<prefix>_<random>`` (a copy of ``template`` when given), yield its DSN, drop it
    (closing stray sessions) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(create)
    try:
        yield dsn_for(name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def execute(dsn: str, *statements: str) -> None:
    """Run setup SQL (read-write) against a scratch database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


@pytest.fixture
def scratch_pg_database() -> Iterator[str]:
    with scratch_database() as dsn:
        yield dsn


_TEMPLATE: dict[str, str] = {}


def migrated_template() -> str:
    """A database holding the store's schema, made once per test process and dropped when it exits:
    a store test copies it (CREATE DATABASE ... TEMPLATE, ~0.1 s) instead of running every
    migration again (~0.6 s). Store.open on the copy still checks that each migration is applied.
    The migrations themselves run on a fresh database in tests/test_store*.py and here, once."""
    if "name" not in _TEMPLATE:
        import atexit

        from opsbook.store import Store

        name = f"opsbook_tpl_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        Store.open(dsn_for(name)).close()  # no session may stay on a template while it is copied

        def drop() -> None:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

        atexit.register(drop)
        _TEMPLATE["name"] = name
    return _TEMPLATE["name"]
