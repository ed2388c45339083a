"""PostgreSQL connections for the migration, and its failure type."""

from __future__ import annotations

from typing import Any

import psycopg

from ..config.secrets import redactor
from ..errors import CouldNotRun, MigrationFailed


def connect(dsn: str, autocommit: bool = False) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as e:
        raise CouldNotRun(f"cannot connect to the target PostgreSQL: {redactor.text(str(e)).strip()}",
                          hint="check --to (a DSN or a postgres resource name) and that the server is up") from None
    # naive SQLite datetimes are UTC; the load's own commits need not wait for the disk
    # (a lost commit only means that table is loaded again on the next run)
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("SET synchronous_commit = off")
        # JIT compiles each wide reconcile aggregate and foreign key check for 0.2-0.3 s of
        # CPU and gains nothing on one pass over a table (measured: 0.94 s without, 1.26 s with)
        cur.execute("SELECT set_config('jit', 'off', false) WHERE current_setting('jit', true) IS NOT NULL")
    if not autocommit:
        conn.commit()
    return conn


def pg_error(what: str, e: psycopg.Error) -> MigrationFailed:
    diag = getattr(e, "diag", None)
    detail = " ".join(x for x in (getattr(diag, "message_detail", None), getattr(diag, "context", None)) if x)
    msg = f"{what}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
    if detail:
        msg += f" ({detail.strip()})"
    return MigrationFailed(redactor.text(msg), hint="see the audit in the report; --casts can change a column's type")
