"""The store's entry object: open and migrate a store, hand out transactions.

The tables' SQL lives in their owner modules (schema.py lists them); their functions take a
transaction: ``with store.transaction() as tx: outbox.claim(tx, ...)`` (``store.read()`` for a
snapshot that takes no write lock on SQLite). The methods below are the common check and run
calls, each one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from ..errors import IntegrityViolation
from ..results import CheckResult
from . import checks
from . import runs as run_rows
from .checks import Flip, StoredState
from .db import Database, Tx
from .schema import MIGRATIONS, TABLES

__all__ = ["Flip", "Store", "StoredState"]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.url = db.url

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and messages."""
        return self.db.safe_url

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A transaction for owner functions: committed when the block ends, rolled back on an exception."""
        with self.db.transaction() as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only snapshot (on SQLite it takes no write lock)."""
        with self.db.read() as tx:
            yield tx

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        store = cls(Database(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe to race: one wins per version."""
        types = self.db.types()
        with self.db.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS opsbook_schema_version (version INTEGER PRIMARY KEY, "
                f"description TEXT NOT NULL, applied_at {types['ts']} NOT NULL)"
            )
        for version, description, statements in MIGRATIONS:
            try:
                with self.db.transaction() as tx:
                    if tx.one("SELECT 1 FROM opsbook_schema_version WHERE version = ?", (version,)):
                        continue
                    tx.execute("INSERT INTO opsbook_schema_version (version, description, applied_at) "
                               "VALUES (?, ?, ?)", (version, description, self.db.ts(datetime.now(UTC))))
                    for sql in statements:
                        tx.execute(sql.format(**types))
            except IntegrityViolation:
                continue  # another process applied it first
        return self.version()

    def version(self) -> int:
        with self.db.transaction() as tx:
            row = tx.one("SELECT max(version) FROM opsbook_schema_version")
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------

    def record_results(self, results: list[CheckResult]) -> list[Flip]:
        """Store results and update each check's state; returns the status flips they caused."""
        if not results:
            return []
        with self.db.transaction() as tx:
            return checks.record_results(tx, results)

    def record_run(self, kind: str, name: str, *, ok: bool, status: str, started_at: datetime,
                   finished_at: datetime | None, detail: dict[str, Any] | None,
                   env: str | None = None, error: dict[str, Any] | None = None) -> int:
        with self.db.transaction() as tx:
            return run_rows.record(tx, kind, name, ok=ok, status=status, started_at=started_at,
                                   finished_at=finished_at, detail=detail, env=env, error=error)

    # -- reads -------------------------------------------------------------------------------

    def states(self, env: str | None = None) -> list[StoredState]:
        with self.db.transaction() as tx:
            return checks.states(tx, env)

    def history(self, check: str, env: str | None = None, limit: int = 50) -> list[CheckResult]:
        with self.db.transaction() as tx:
            return checks.history(tx, check, env, limit)

    def flips(self, check: str | None = None, limit: int = 100) -> list[Flip]:
        with self.db.transaction() as tx:
            return checks.flips(tx, check, limit)

    def runs(self, kind: str | None = None, limit: int = 50, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            return run_rows.latest(tx, kind, limit, name)

    def table_counts(self) -> dict[str, int]:
        with self.db.transaction() as tx:
            return {t: int((tx.one(f"SELECT count(*) FROM {t}") or (0,))[0]) for t in TABLES}
