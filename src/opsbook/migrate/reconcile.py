"""Reconcile: the target holds what the source holds.

Per table: row count; per column: non-null count and kind-specific aggregates computed on
both sides in one set-based query each (integer sums modulo a prime, min, max; float sums
within a relative 1e-9; datetimes as epoch milliseconds; text and bytea as character/byte
totals plus an order-independent hash: the sum of the first 32 bits of each value's MD5,
computed by PostgreSQL's md5() and, on the SQLite side, by a registered Python function over
the same bytes, with ``--hash``; without it text is compared by length total, min and max in
byte order). Then every identity sequence must be ahead of max(id) and every foreign key
present and validated (orphans are counted when it is not).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sqlexpr
from .pg import connect
from .plan import TablePlan
from .source import qi

FLOAT_REL = 1e-9


def h32(v: Any) -> int | None:
    """First 32 bits of MD5 as a signed int, as ``('x' || left(md5(v), 8))::bit(32)::int``."""
    if v is None:
        return None
    b = v if isinstance(v, bytes) else str(v).encode()
    return int.from_bytes(hashlib.md5(b).digest()[:4], "big", signed=True)


def float_text(v: Any) -> str | None:
    """repr() of a double: the exact round trip SQLite's printf cannot give above ~1e90."""
    return None if v is None else repr(float(v))


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("opsbook_h32", 1, h32, deterministic=True)
    conn.create_function("opsbook_float", 1, float_text, deterministic=True)


@dataclass
class Mismatch:
    table: str
    column: str | None
    metric: str
    source: Any
    target: Any

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "metric": self.metric,
                "source": self.source, "target": self.target}


@dataclass
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    metrics: int  # how many values were compared
    skipped: list[str] = field(default_factory=list)  # lossy columns: only counts compared

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "source_rows": self.source_rows, "target_rows": self.target_rows,
                "metrics_compared": self.metrics, "lossy_columns_not_compared": self.skipped}


@dataclass
class ReconcileResult:
    tables: list[TableCheck] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    sequences: list[dict[str, Any]] = field(default_factory=list)
    foreign_keys: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.mismatches and all(s["ok"] for s in self.sequences)
                and all(f["ok"] for f in self.foreign_keys))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tables": [t.to_dict() for t in self.tables],
                "mismatches": [m.to_dict() for m in self.mismatches],
                "sequences": self.sequences, "foreign_keys": self.foreign_keys}


def _metric_lists(tp: TablePlan, hashes: bool) -> tuple[list[tuple[str | None, str, str, str]], list[str]]:
    """(column, metric, sqlite expr, postgres expr) for a table; lossy columns only count."""
    out: list[tuple[str | None, str, str, str]] = [(None, "rows", "count(*)", "count(*)")]
    skipped = []
    for c in tp.columns:
        s = sqlexpr.sqlite_metrics(c.value_sql, c.t, hashes)
        p = sqlexpr.pg_metrics(qi(c.name), c.t, hashes)
        if c.lossy:
            skipped.append(c.name)
            s, p = {"non_null": s["non_null"]}, {"non_null": p["non_null"]}
        for k in s:
            out.append((c.name, k, s[k], p[k]))
    return out, skipped


def source_side(open_source: Callable[[], sqlite3.Connection], tp: TablePlan, hashes: bool) -> list[Any]:
    metrics, _ = _metric_lists(tp, hashes)
    conn = open_source()
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        row = conn.execute(f"SELECT {', '.join(m[2] for m in metrics)} FROM {qi(tp.name)}").fetchone()
    finally:
        conn.close()
    return list(row)


def target_side(dsn: str, tp: TablePlan, hashes: bool) -> list[Any]:
    metrics, _ = _metric_lists(tp, hashes)
    with connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT {', '.join(m[3] for m in metrics)} FROM {qi(tp.name)}").fetchone()
    return list(row or [])


def _same(a: Any, b: Any, metric: str) -> bool:
    if a is None or b is None:
        return (a is None or a == 0) and (b is None or b == 0)
    if isinstance(a, str) or isinstance(b, str):
        return bool(a == b)
    if metric in ("sum", "min", "max"):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return fa == fb or math.isclose(fa, fb, rel_tol=FLOAT_REL, abs_tol=1e-9)
    return bool(int(a) == int(b))


def compare(tp: TablePlan, src: list[Any], tgt: list[Any], hashes: bool) -> tuple[TableCheck, list[Mismatch]]:
    metrics, skipped = _metric_lists(tp, hashes)
    bad = []
    for (col, name, _, _), a, b in zip(metrics, src, tgt, strict=True):
        kind = tp.columns[[c.name for c in tp.columns].index(col)].t.kind if col else "int"
        floaty = kind in ("float", "numeric") and name in ("sum", "min", "max")
        if not _same(a, b, name if floaty else "exact"):
            bad.append(Mismatch(tp.name, col, name, _plain(a), _plain(b)))
    return TableCheck(tp.name, int(src[0]), int(tgt[0]), len(metrics), skipped), bad


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, int | float | str):
        return v[:80] if isinstance(v, str) else v
    return float(v) if not float(v).is_integer() else int(v)


def check_sequences(dsn: str, plans: list[TablePlan]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with connect(dsn, autocommit=True) as conn:
        for tp in plans:
            if not tp.identity:
                continue
            seq_row = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (qi(tp.name), tp.identity)).fetchone()
            seq = seq_row[0] if seq_row else None
            if seq is None:
                out.append({"table": tp.name, "column": tp.identity, "sequence": None, "ok": False,
                            "message": "no identity sequence"})
                continue
            seq_state = conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
            assert seq_state is not None
            last, called = seq_state
            mx = conn.execute(f"SELECT max({qi(tp.identity)}) FROM {qi(tp.name)}").fetchone()
            top = mx[0] if mx else None
            nxt = int(last) + 1 if called else int(last)
            ok = top is None or nxt > int(top)
            out.append({"table": tp.name, "column": tp.identity, "sequence": seq, "next_value": nxt,
                        "max_id": top, "ok": ok})
    return out


def check_fks(dsn: str, plans: list[TablePlan]) -> list[dict[str, Any]]:
    out = []
    with connect(dsn, autocommit=True) as conn:
        have = {r[0]: r[1] for r in conn.execute(
            "SELECT c.conname, c.convalidated FROM pg_constraint c JOIN pg_namespace n "
            "ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()")}
        for tp in plans:
            for (name, _), fk in zip(tp.fk_sql(), tp.foreign_keys, strict=True):
                entry: dict[str, Any] = {"table": tp.name, "columns": fk.columns, "references": fk.ref_table,
                                         "constraint": name, "present": name in have,
                                         "validated": bool(have.get(name))}
                if not entry["validated"]:
                    entry["orphans"] = _orphans(conn, tp.name, fk.columns, fk.ref_table, fk.ref_columns)
                entry["ok"] = entry["validated"]
                out.append(entry)
    return out


def _orphans(conn: Any, table: str, cols: list[str], ref: str, ref_cols: list[str]) -> int:
    child = " AND ".join(f"c.{qi(x)} IS NOT NULL" for x in cols)
    join = " AND ".join(f"p.{qi(r)} = c.{qi(x)}" for x, r in zip(cols, ref_cols, strict=True))
    row = conn.execute(f"SELECT count(*) FROM {qi(table)} c WHERE {child} AND NOT EXISTS "
                       f"(SELECT 1 FROM {qi(ref)} p WHERE {join})").fetchone()
    return int(row[0])
