"""Store tables and numbered migrations. Portable across SQLite and PostgreSQL.

A migration is append-only: never edit one that has shipped; add the next number.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

schema_version = sa.Table(
    "opsbook_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", TS, nullable=False),
)

check_results = sa.Table(
    "check_results",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("check_name", sa.Text, nullable=False),
    sa.Column("env", sa.Text, nullable=False, server_default=""),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=False),
    sa.Column("result", JSON, nullable=False),
    sa.Index("ix_check_results_check_time", "check_name", "env", "finished_at"),
)

# One row per (check, env): the current status and since when. Updated by compare-and-set.
check_state = sa.Table(
    "check_state",
    metadata,
    sa.Column("check_name", sa.Text, primary_key=True),
    sa.Column("env", sa.Text, primary_key=True, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("since", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("last_result_id", sa.BigInteger, nullable=True),
    sa.Column("last_error", JSON, nullable=True),
    sa.Column("last_error_at", TS, nullable=True),
)

# A status change is a row: what it was, what it became, when, and the result that did it.
flips = sa.Table(
    "check_flips",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("check_name", sa.Text, nullable=False),
    sa.Column("env", sa.Text, nullable=False, server_default=""),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("result_id", sa.BigInteger, nullable=True),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_check_flips_check_at", "check_name", "env", "at"),
)

# Gate, smoke and (later) job runs: one row each, with the rendered JSON document.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("env", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("detail", JSON, nullable=True),
    sa.Column("error", JSON, nullable=True),
    sa.Index("ix_runs_kind_name", "kind", "name", "started_at"),
)


def _v1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[check_results, check_state, flips, runs])


MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "check results, state, flips and runs", _v1),
]
