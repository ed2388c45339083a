"""The store: every result, status change and run is a row. SQLite by default, PostgreSQL
when several processes share it. See schema.py for tables and migrations."""

from .store import Flip, Store, StoredState

__all__ = ["Flip", "Store", "StoredState"]
