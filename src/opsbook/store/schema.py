"""Store tables as numbered SQL migrations, portable across SQLite and PostgreSQL.

A migration is append-only: never edit one that has shipped; add the next number. Types are
written {id}, {json}, {ts}, {bool}, {bigint} and filled in per dialect (db.TYPES).
"""

from __future__ import annotations

from . import schema_notify, schema_rules, schema_serve, schema_web

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "check results, state, flips and runs", [
        """CREATE TABLE check_results (
            id {id},
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            ok {bool} NOT NULL,
            duration_ms DOUBLE PRECISION NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            started_at {ts} NOT NULL,
            finished_at {ts} NOT NULL,
            result {json} NOT NULL)""",
        "CREATE INDEX ix_check_results_check_time ON check_results (check_name, env, finished_at)",
        # one row per (check, env): the current status and since when; updated by compare-and-set
        """CREATE TABLE check_state (
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            since {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            last_result_id {bigint},
            last_error {json},
            last_error_at {ts},
            PRIMARY KEY (check_name, env))""",
        # a status change is a row: what it was, what it became, when, and the result that did it
        """CREATE TABLE check_flips (
            id {id},
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            from_status TEXT,
            to_status TEXT NOT NULL,
            at {ts} NOT NULL,
            result_id {bigint},
            summary TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_check_flips_check_at ON check_flips (check_name, env, at)",
        # gate, smoke and job runs: one row each, with the rendered JSON document
        """CREATE TABLE runs (
            id {id},
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            ok {bool} NOT NULL,
            started_at {ts} NOT NULL,
            finished_at {ts},
            detail {json},
            error {json})""",
        "CREATE INDEX ix_runs_kind_name ON runs (kind, name, started_at)",
    ]),
]

# areas keep their tables in store/schema_<area>.py, numbered in their own ranges: one line each
MIGRATIONS += schema_rules.MIGRATIONS + schema_notify.MIGRATIONS + schema_serve.MIGRATIONS + schema_web.MIGRATIONS
MIGRATIONS.sort(key=lambda m: m[0])

TABLES = ("check_results", "check_state", "check_flips", "runs",
          *schema_rules.TABLES, *schema_notify.TABLES, *schema_serve.TABLES, *schema_web.TABLES)
