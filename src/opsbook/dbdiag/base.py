"""What every report shares: a read-only transaction with a deadline, bounded rows, errors that
say which extension or privilege is missing, and query text that is truncated and redacted.

A report module has ``NAME``, ``TITLE``, ``NEEDS`` (the privilege it wants, for the docs and for
its "unavailable" message), ``async collect(q, opts) -> dict`` and ``sections(doc) -> [Section]``
(the readable tables; render/db.py draws them as Rich tables or Markdown). Rendering lives in the
render layer: this package only shapes data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config.secrets import REDACTED, redact_credentials_in, redactor
from ..errors import ReportUnavailable as Unavailable

if TYPE_CHECKING:
    import psycopg

QUERY_WIDTH = 200  # characters of another session's query text kept (after redaction)
DEFAULT_LIMIT = 20  # rows per list unless asked otherwise; every query has a LIMIT
MAX_LIMIT = 500
MONITOR = "pg_monitor (or pg_read_all_stats)"


@dataclass
class Options:
    limit: int = DEFAULT_LIMIT
    longer_than: float = 5.0  # activity: running queries older than this many seconds
    timeout_ms: int = 5000  # statement_timeout of each report's transaction

    def __post_init__(self) -> None:
        self.limit = max(1, min(int(self.limit), MAX_LIMIT))


@dataclass(frozen=True)
class Section:
    """One readable table of a report; ``empty`` is printed instead when there are no rows."""

    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]
    empty: str = "none"
    notes: list[str] = field(default_factory=list)


class Query:
    """Runs a report's statements on one connection, inside the report's transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cur = await self.conn.execute(sql, params)
        if cur.description is None:
            return []
        names = [d.name for d in cur.description]
        return [{n: value(v) for n, v in zip(names, r, strict=True)} for r in await cur.fetchall()]

    async def one(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any]:
        got = await self.rows(sql, params)
        return got[0] if got else {}


_HIDDEN = """SELECT count(*) AS n FROM pg_stat_activity
WHERE backend_type IS NULL AND query = '<insufficient privilege>'"""  # without the privilege even that is hidden


async def hidden_notes(q: Query) -> list[str]:
    """A note when other users' sessions are invisible to this role (no pg_monitor)."""
    n = (await q.one(_HIDDEN)).get("n") or 0
    return [f"{n} session(s) of other users are hidden (not counted, no state or query): grant {MONITOR}"] if n else []


def value(v: Any) -> Any:
    """A catalog value as JSON: numbers stay numbers, times are ISO 8601 text."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return [value(x) for x in v]
    return str(v)


_SPACE = re.compile(r"\s+")
# CREATE/ALTER ROLE ... PASSWORD 'x' shows up in pg_stat_activity and pg_stat_statements as typed
_SQL_PASSWORD = re.compile(r"(?i)\b(password\s+)'(?:[^']|'')*'")


def query_text(text: Any, width: int = QUERY_WIDTH) -> str:
    """Another session's query, on one line, redacted, at most ``width`` characters."""
    if not isinstance(text, str):
        return ""
    one = _SPACE.sub(" ", text[: width * 4]).strip()
    one = redactor.text(redact_credentials_in(_SQL_PASSWORD.sub(lambda m: f"{m.group(1)}'{REDACTED}'", one)))
    return one if len(one) <= width else one[: width - 3] + "..."


def seconds(v: Any) -> float | None:
    return None if v is None else round(float(v), 3)


def age(v: float | None) -> str:
    """Seconds as a short human age: 45s, 12m, 3h05m, 2d4h."""
    if v is None:
        return "-"
    s = int(v)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def size(n: Any) -> str:
    if n is None:
        return "-"
    f = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(f) < 1024 or unit == "TB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return str(n)  # pragma: no cover


def pct(v: Any) -> str:
    return "-" if v is None else f"{float(v):.2f} %"


def cell(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


async def run(conn: psycopg.AsyncConnection[Any], module: Any, opts: Options) -> dict[str, Any]:
    """One report in its own READ ONLY transaction with a statement timeout; never raises for a
    query problem: ``status`` is ok, unavailable (with ``needs``/``fix``) or error."""
    import psycopg
    from psycopg import pq, sql

    doc: dict[str, Any] = {"schema": f"opsbook.db-{module.NAME}/1", "report": module.NAME, "status": "ok"}
    try:
        await conn.execute("BEGIN READ ONLY")
        await conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(opts.timeout_ms)))
        # a catalog read behind an ACCESS EXCLUSIVE lock (an ALTER TABLE) would wait: give up soon
        await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
            sql.Literal(min(opts.timeout_ms, 2000))))
        doc.update(await module.collect(Query(conn), opts))
    except Unavailable as e:
        doc.update({"status": "unavailable", "reason": e.message, "needs": e.needs, "fix": e.hint})
    except psycopg.Error as e:
        doc.update(_failure(e, module))
    finally:
        if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                await conn.execute("ROLLBACK")
    return doc


def _failure(e: Any, module: Any) -> dict[str, Any]:
    import psycopg

    text = e.diag.message_primary or (str(e).splitlines() or [type(e).__name__])[0]
    primary = redactor.text(text)
    if isinstance(e, psycopg.errors.InsufficientPrivilege):
        return {"status": "unavailable", "reason": f"permission denied: {primary}", "needs": module.NEEDS,
                "fix": f"GRANT {module.NEEDS.split(' ')[0]} TO <the resource's user>"}
    if isinstance(e, psycopg.errors.QueryCanceled):
        return {"status": "error", "reason": f"timed out: {primary}",
                "fix": "the catalog is slow or locked; retry, or raise --timeout"}
    if isinstance(e, psycopg.errors.LockNotAvailable):
        return {"status": "error", "reason": f"a catalog lock is held: {primary}",
                "fix": "an ALTER or VACUUM FULL holds a lock; retry when it finishes"}
    return {"status": "error", "reason": primary, "fix": ""}
