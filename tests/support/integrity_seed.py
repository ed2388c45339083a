"""One seeded database for the integrity tests, in PostgreSQL or SQLite, dirty or clean.

The dirty data plants known violations (see ``PLANTED``); the clean data has none. The same
SQL runs on both engines, so every check is tested on both with the same expectations.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.config.load import load_config
from opsbook.integrity import IntegrityResult, run_suite
from opsbook.ops.load import kinds_info
from tests.support.pgutil import execute, scratch_database

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # the injected clock for freshness

SCHEMA = [
    "CREATE TABLE users (id integer PRIMARY KEY, email text, password_hash text, api_token text)",
    "CREATE TABLE habits (id integer PRIMARY KEY, user_id integer, streak integer)",
    "CREATE TABLE habit_completions (id integer PRIMARY KEY, habit_id integer, done_at timestamp)",
    "CREATE TABLE stripe_events (id integer PRIMARY KEY, event_id text, type text)",
    "CREATE TABLE subscriptions (id integer PRIMARY KEY, status text)",
]
DIRTY = [
    "INSERT INTO users VALUES (1, 'ann@example.com', 'h1', 'tok1'), (2, NULL, 'h2', 'tok2'),"
    " (3, 'not-an-email', 'h3', 'tok3')",
    "INSERT INTO habits VALUES (1, 1, 3), (2, 1, -2), (3, 2, 0)",
    "INSERT INTO habit_completions VALUES (1, 1, '2026-11-20 10:00:00'), (2, 99, '2026-11-20 11:00:00'),"
    " (3, NULL, '2026-11-19 09:00:00')",
    "INSERT INTO stripe_events VALUES (1, 'evt_1', 'invoice.paid'), (2, 'evt_1', 'invoice.paid'),"
    " (3, 'evt_2', 'invoice.paid'), (4, 'evt_1', 'charge.failed'), (5, NULL, 'x'), (6, NULL, 'x')",
    "INSERT INTO subscriptions VALUES (1, 'active'), (2, 'trialing'), (3, NULL), (4, 'canceled')",
]
CLEAN = [
    "INSERT INTO users VALUES (1, 'ann@example.com', 'h1', 'tok1'), (2, 'bob@example.com', 'h2', 'tok2')",
    "INSERT INTO habits VALUES (1, 1, 3), (2, 1, 0)",
    "INSERT INTO habit_completions VALUES (1, 1, '2026-11-20 10:00:00'), (2, NULL, '2026-11-20 11:00:00')",
    "INSERT INTO stripe_events VALUES (1, 'evt_1', 'invoice.paid'), (2, 'evt_2', 'invoice.paid'),"
    " (3, NULL, 'x'), (4, NULL, 'x')",
    "INSERT INTO subscriptions VALUES (1, 'active'), (2, NULL), (3, 'past_due')",
]

# the suite every engine test runs: one check of each table-reading type
SUITE = """
integrity:
  core:
    sample_rows: 5
    checks:
      - unique: {table: stripe_events, columns: [event_id]}
      - unique: {table: stripe_events, columns: [event_id, type]}
      - references: {table: habit_completions, column: habit_id, to: habits.id}
      - not_null: {table: users, columns: [email]}
      - row_count: {table: users, min: 1, max: 10}
      - accepted_values: {table: subscriptions, column: status, values: [active, canceled, past_due]}
      - range: {table: habits, column: streak, min: 0}
      - pattern: {table: users, column: email, regex: '^[^@]+@[^@]+$'}
      - freshness: {table: habit_completions, column: done_at, max_age: 26h}
      - schema: {tables: {users: {id: integer, email: text}, habits: [id, streak]}}
      - sql: {name: no-negative-streaks, query: "SELECT count(*) FROM habits WHERE streak < 0", expect: "value == 0"}
      - sql: {name: negative-streak-rows, query: "SELECT id, streak FROM habits WHERE streak < 0"}
"""
# violations the dirty data holds, per check name
PLANTED = {
    "unique:stripe_events.event_id": 2,  # evt_1 three times: two surplus rows; NULLs are not duplicates
    "unique:stripe_events.event_id,type": 1,  # (evt_1, invoice.paid) twice
    "references:habit_completions.habit_id": 1,  # habit 99; the NULL habit_id is allowed
    "not_null:users.email": 1,
    "row_count:users": 0,
    "accepted_values:subscriptions.status": 1,  # trialing; NULL is not judged
    "range:habits.streak": 1,
    "pattern:users.email": 1,
    "freshness:habit_completions.done_at": 0,  # 23 h old at NOW, max 26 h
    "schema": 0,
    "no-negative-streaks": 1,
    "negative-streak-rows": 1,
}


@dataclass
class Target:
    dialect: str
    dsn: str | None = None
    sqlite_path: str | None = None

    def execute(self, *statements: str) -> None:
        if self.dsn:
            execute(self.dsn, *statements)
        else:
            assert self.sqlite_path is not None
            conn = sqlite3.connect(self.sqlite_path)
            try:
                for s in statements:
                    conn.execute(s)
                conn.commit()
            finally:
                conn.close()

    def cli_args(self) -> list[str]:
        return ["--dsn", self.dsn] if self.dsn else ["--sqlite", str(self.sqlite_path)]


@contextmanager
def seeded(dialect: str, tmp: Path, clean: bool = False) -> Iterator[Target]:
    rows = CLEAN if clean else DIRTY
    if dialect == "postgres":
        with scratch_database("opsbook_integrity") as dsn:
            t = Target("postgres", dsn=dsn)
            t.execute(*SCHEMA, *rows)
            yield t
    else:
        path = tmp / f"integrity-{'clean' if clean else 'dirty'}.db"
        t = Target("sqlite", sqlite_path=str(path))
        t.execute(*SCHEMA, *rows)
        try:
            yield t
        finally:
            path.unlink(missing_ok=True)


def config(text: str, tmp: Path) -> Any:
    return load_config(tmp / "opsbook.yaml", kinds_info(), text=textwrap.dedent(text))


def run(target: Target, text: str, tmp: Path, suite: str = "core", **kw: Any) -> IntegrityResult:
    kw.setdefault("now", lambda: NOW)
    return asyncio.run(run_suite(config(text, tmp), suite, dsn=target.dsn, sqlite_path=target.sqlite_path, **kw))


def by_name(result: IntegrityResult) -> dict[str, Any]:
    return {c.name: c for c in result.checks}
