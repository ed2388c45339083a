"""Audit before loading: which values would not cast, per table and column, with examples.

One aggregate query per table (typeof counts, values the conversion rejects, text features),
then a look at the few rows that need it: examples of rejected values, and a UTF-8 check of
the text values that contain any non-ASCII byte (SQLite never validates UTF-8).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sqlexpr
from .plan import ColumnPlan, TablePlan
from .source import qi

EXAMPLES = 3
# any character outside U+0001..U+007F; SQLite's GLOB decodes UTF-8 leniently, so every
# non-ASCII byte (valid or not) shows up as such a character
_NON_ASCII = "'*[^\x01-\x7f]*'"
# anything but printable ASCII without backslash: needs escaping for COPY or a UTF-8 check
_SPECIAL = "'*[^ -~]*'"
_ESCAPES = (("\\", "X'5C'"), ("\t", "X'09'"), ("\n", "X'0A'"), ("\r", "X'0D'"))


@dataclass
class Problem:
    table: str
    column: str | None
    problem: str  # not_castable | invalid_utf8 | nul_in_text | orphan_rows
    message: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "problem": self.problem,
                "message": self.message, "count": self.count, "examples": self.examples}


@dataclass
class Finding:
    """Not a problem: how values are stored and will be converted (epoch numbers, 'true')."""

    table: str
    column: str
    message: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "message": self.message, "count": self.count}


@dataclass
class AuditResult:
    problems: list[Problem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "problems": [p.to_dict() for p in self.problems],
                "findings": [f.to_dict() for f in self.findings]}


def _locator(tp: TablePlan) -> str:
    return qi(tp.pk[0]) if tp.pk else "rowid"


def _fast_ok(q: str, c: ColumnPlan) -> str | None:
    """A cheap test passed by the usual values of the column's kind (None: all values pass).

    The table's one aggregate query counts the values failing it; only columns with such
    values get the detailed (slower) look.
    """
    t = c.target
    if t is None:
        return "0"  # no declared type: always look at the data in detail
    if t.kind == "bytea":
        return None
    if t.kind == "int":
        return f"typeof({q}) = 'integer'" + (f" AND {q} BETWEEN {t.lo} AND {t.hi}" if t.lo is not None else "")
    if t.kind == "float":
        return f"typeof({q}) = 'real'" + (f" AND abs({q}) < {t.float_max!r}" if t.float_max else "")
    if t.kind == "numeric":
        return f"typeof({q}) IN ('integer', 'real')" + (f" AND abs({q}) < {t.numeric_max}" if t.numeric_max else "")
    if t.kind == "bool":
        return f"typeof({q}) = 'integer' AND {q} IN (0, 1)"
    if t.kind in ("timestamptz", "timestamp", "date"):
        # days up to 28 exist in every month; only 29-31 need the (slower) calendar check
        return (f"typeof({q}) = 'text' AND {q} GLOB '{sqlexpr.ISO_GLOB}' AND julianday({q}) IS NOT NULL "
                f"AND (substr({q}, 9, 2) <= '28' OR date(substr({q}, 1, 10), '+0 days') = substr({q}, 1, 10))")
    # text: printable ASCII without backslash needs no escaping and cannot be invalid UTF-8
    return f"typeof({q}) = 'text' AND NOT {q} GLOB {_SPECIAL} AND instr({q}, '\\') = 0"


def audit_table(conn: sqlite3.Connection, tp: TablePlan) -> tuple[list[Problem], list[Finding]]:
    """Fill ``stats`` of every column of ``tp``; return its problems and findings."""
    exprs: list[str] = ["count(*)"]
    fast: list[tuple[ColumnPlan, str | None]] = []
    for c in tp.columns:
        q = qi(c.name)
        ok = _fast_ok(q, c)
        fast.append((c, ok))
        exprs.append(f"count({q})")
        exprs.append(f"sum({q} IS NOT NULL AND NOT ({ok}))" if ok else "0")
    row = conn.execute(f"SELECT {', '.join(exprs)} FROM {qi(tp.name)}").fetchone()
    tp.rows = int(row[0])
    for i, (c, ok) in enumerate(fast):
        non_null, unusual = int(row[1 + 2 * i]), int(row[2 + 2 * i] or 0)
        c.stats.nulls = tp.rows - non_null
        if unusual:
            _detail(conn, tp, c, ok)
        else:  # every value passed the fast test, which pins its storage class
            cls = _usual_class(c, conn, tp.name) if non_null else "integer"
            c.stats.classes = {cls: non_null} if non_null else {}
    problems: list[Problem] = []
    findings: list[Finding] = []
    for c in tp.columns:
        _column_report(conn, tp, c, problems, findings)
    return problems, findings


def _usual_class(c: ColumnPlan, conn: sqlite3.Connection, table: str) -> str:
    kind = c.target.kind if c.target else "text"
    if kind in ("int", "bool"):
        return "integer"
    if kind == "float":
        return "real"
    if kind in ("timestamptz", "timestamp", "date", "text"):
        return "text"
    if kind == "numeric":  # integer or real: both convert the same way, report the first seen
        r = conn.execute(f"SELECT typeof({qi(c.name)}) FROM {qi(table)} WHERE {qi(c.name)} IS NOT NULL "
                         "LIMIT 1").fetchone()
        return str(r[0]) if r else "real"
    return "blob"


def _detail(conn: sqlite3.Connection, tp: TablePlan, c: ColumnPlan, ok: str | None) -> None:
    """Storage classes, rejected values and text features of the values failing the fast test."""
    q = qi(c.name)
    parts = {cls: f"sum(typeof({q}) = '{cls}')" for cls in sqlexpr.CLASSES}
    if c.target is not None and c.target.kind != "bytea":
        full = sqlexpr.value(q, c.target, set(sqlexpr.CLASSES), validate=True)
        parts["bad"] = f"sum(({full}) IS NULL)"
    if c.target is not None and c.target.kind in ("timestamptz", "timestamp", "date"):
        parts["epoch_ms"] = f"sum(typeof({q}) IN ('integer', 'real') AND abs({q}) >= 100000000000)"
    if c.target is None or c.target.kind == "text":
        for ch, hexlit in _ESCAPES:
            parts["esc" + ch] = f"sum(instr(CAST({q} AS BLOB), {hexlit}) > 0)"
        parts["nonascii"] = f"sum(typeof({q}) = 'text' AND {q} GLOB {_NON_ASCII})"
        parts["nul"] = f"sum(typeof({q}) = 'text' AND instr(CAST({q} AS BLOB), X'00') > 0)"
    keys = list(parts)
    where = f"{q} IS NOT NULL" + (f" AND NOT ({ok})" if ok else "")
    row = conn.execute(f"SELECT {', '.join(f'coalesce({parts[k]}, 0)' for k in keys)} "
                       f"FROM {qi(tp.name)} WHERE {where}").fetchone()
    s = c.stats
    usual = tp.rows - s.nulls - sum(int(row[keys.index(k)]) for k in sqlexpr.CLASSES)
    for k, v in zip(keys, row, strict=True):
        v = int(v)
        if k in sqlexpr.CLASSES:
            s.classes[k] = v
        elif k.startswith("esc"):
            s.escapes += k[3:] if v else ""
        else:
            setattr(s, k, v)
    if usual > 0:  # values that passed the fast test are of the kind's usual class
        cls = _usual_class(c, conn, tp.name)
        s.classes[cls] = s.classes.get(cls, 0) + usual


def _column_report(conn: sqlite3.Connection, tp: TablePlan, c: ColumnPlan,
                   problems: list[Problem], findings: list[Finding]) -> None:
    s, q, loc = c.stats, qi(c.name), _locator(tp)
    target = c.target.pg_type if c.target else "(inferred)"
    if s.bad:
        assert c.target is not None
        full = sqlexpr.value(q, c.target, set(sqlexpr.CLASSES), validate=True)
        rows = conn.execute(f"SELECT {loc}, typeof({q}), quote({q}) FROM {qi(tp.name)} "
                            f"WHERE {q} IS NOT NULL AND ({full}) IS NULL LIMIT {EXAMPLES}").fetchall()
        problems.append(Problem(tp.name, c.name, "not_castable",
                                f"{s.bad} value(s) would not cast to {target}", s.bad,
                                [{"row": r[0], "storage": r[1], "value": _clip(r[2])} for r in rows]))
    if s.nonascii:
        bad: list[dict[str, Any]] = []
        n = 0
        cur = conn.execute(f"SELECT {loc}, CAST({q} AS BLOB) FROM {qi(tp.name)} "
                           f"WHERE typeof({q}) = 'text' AND {q} GLOB {_NON_ASCII}")
        while batch := cur.fetchmany(10000):
            for r, b in batch:
                try:
                    b.decode("utf-8")
                except UnicodeDecodeError:
                    n += 1
                    if len(bad) < EXAMPLES:
                        bad.append({"row": r, "storage": "text", "value": _clip(repr(bytes(b)))})
        s.invalid_utf8 = n
        if n:
            problems.append(Problem(tp.name, c.name, "invalid_utf8",
                                    f"{n} text value(s) are not valid UTF-8 (PostgreSQL rejects them)",
                                    n, bad))
    if s.nul:
        rows = conn.execute(f"SELECT {loc} FROM {qi(tp.name)} WHERE typeof({q}) = 'text' "
                            f"AND instr(CAST({q} AS BLOB), X'00') > 0 LIMIT {EXAMPLES}").fetchall()
        problems.append(Problem(tp.name, c.name, "nul_in_text",
                                f"{s.nul} text value(s) contain a NUL byte (PostgreSQL text cannot)",
                                s.nul, [{"row": r[0]} for r in rows]))
    _findings(tp, c, findings)


def _findings(tp: TablePlan, c: ColumnPlan, findings: list[Finding]) -> None:
    s = c.stats
    kind = c.target.kind if c.target else None
    nums = s.classes.get("integer", 0) + s.classes.get("real", 0)
    texts = s.classes.get("text", 0)

    def add(msg: str, n: int) -> None:
        if n:
            findings.append(Finding(tp.name, c.name, msg, n))

    if kind in ("timestamptz", "timestamp", "date"):
        add("stored as ISO-8601 text", texts)
        add("stored as epoch seconds", nums - s.epoch_ms)
        add("stored as epoch milliseconds", s.epoch_ms)
    elif kind == "bool":
        add("stored as 0/1", nums)
        add("stored as text ('true'/'false', 't'/'f', 'yes'/'no', ...)", texts)
    elif kind in ("int", "float", "numeric"):
        add(f"stored as text, converted to {c.t.pg_type}", texts)
    elif kind == "text":
        add("stored as numbers, converted to text", nums)
    if c.target is None:
        add("no usable declared type; values decide the type", tp.rows - s.nulls)


def _clip(v: Any, n: int = 80) -> Any:
    if isinstance(v, str) and len(v) > n:
        return v[:n] + "..."
    return v


def audit_fks(conn: sqlite3.Connection, tp: TablePlan) -> list[Problem]:
    """Rows whose foreign key has no parent: SQLite only enforces with PRAGMA foreign_keys=ON."""
    out = []
    for fk in tp.foreign_keys:
        child = " AND ".join(f"c.{qi(col)} IS NOT NULL" for col in fk.columns)
        join = " AND ".join(f"p.{qi(r)} = c.{qi(col)}" for col, r in zip(fk.columns, fk.ref_columns, strict=True))
        where = (f"FROM {qi(tp.name)} AS c WHERE {child} AND NOT EXISTS "
                 f"(SELECT 1 FROM {qi(fk.ref_table)} AS p WHERE {join})")
        n = conn.execute(f"SELECT count(*) {where}").fetchone()[0]
        if n:
            cols = ", ".join(f"c.{qi(col)}" for col in fk.columns)
            ex = conn.execute(f"SELECT {cols} {where} LIMIT {EXAMPLES}").fetchall()
            out.append(Problem(tp.name, ", ".join(fk.columns), "orphan_rows",
                               f"{n} row(s) reference a missing {fk.ref_table} row; the foreign key "
                               "cannot be created", n,
                               [{"value": list(r) if len(r) > 1 else r[0]} for r in ex]))
    return out


def run_audit(open_conn: Callable[[], sqlite3.Connection], plans: list[TablePlan],
              map_fn: Callable[[Callable[[TablePlan], Any], list[TablePlan]], list[Any]],
              with_fks: bool = True) -> AuditResult:
    """Audit every table (in parallel via ``map_fn``); with ``with_fks``, count orphan rows.

    A migration leaves the orphan count to PostgreSQL (adding a foreign key validates it in
    one set-based pass anyway); a dry run counts them here, since it loads nothing.
    """

    def one(tp: TablePlan) -> tuple[list[Problem], list[Finding]]:
        conn = open_conn()
        conn.text_factory = lambda b: b.decode("utf-8", "replace")
        try:
            p, f = audit_table(conn, tp)
            return p + (audit_fks(conn, tp) if with_fks else []), f
        finally:
            conn.close()

    result = AuditResult()
    for p, f in map_fn(one, plans):
        result.problems.extend(p)
        result.findings.extend(f)
    return result
