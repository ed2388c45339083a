"""The SQLite side: open read-only, list tables, columns, keys and indexes."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import UsageError


@dataclass
class Column:
    name: str
    decl_type: str
    notnull: bool
    default: str | None
    pk: int  # position in the primary key, 0 when not part of it


@dataclass
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str
    on_update: str


@dataclass
class Index:
    name: str
    unique: bool
    columns: list[str]
    origin: str  # 'c' CREATE INDEX, 'u' UNIQUE constraint, 'pk' primary key
    skipped: str = ""  # why it cannot be carried over (partial, expression)


@dataclass
class Table:
    name: str
    columns: list[Column]
    pk: list[str]
    rowid_alias: str | None  # INTEGER PRIMARY KEY column: SQLite assigns it, so PG gets an identity
    autoincrement_seq: int  # sqlite_sequence.seq (ids AUTOINCREMENT has handed out), 0 if none
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    without_rowid: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def connect_ro(path: str | Path) -> sqlite3.Connection:
    """Open read-only (``mode=ro``): nothing this module does can change the source file."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no SQLite database at {p}", hint="--from takes the path of the .db file")
    uri = f"file:{quote(str(p.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise UsageError(f"{p} is not a readable SQLite database: {e}") from None
    return conn


def qi(name: str) -> str:
    """Quote an identifier for SQLite and PostgreSQL alike (names are kept exactly)."""
    return '"' + name.replace('"', '""') + '"'


def _rows(conn: sqlite3.Connection, sql: str) -> list[Any]:
    return conn.execute(sql).fetchall()


def read_tables(conn: sqlite3.Connection) -> tuple[list[Table], list[str]]:
    """Every ordinary table, and notes about what is left out (virtual and shadow tables)."""
    notes: list[str] = []
    kinds = {name: kind for _, name, kind, *_ in _rows(conn, "PRAGMA table_list")
             if not name.startswith("sqlite_")}
    has_seq = "sqlite_sequence" in {r[0] for r in _rows(conn, "SELECT name FROM sqlite_master")}
    seqs = dict(_rows(conn, "SELECT name, seq FROM sqlite_sequence")) if has_seq else {}
    tables: list[Table] = []
    for name, kind in sorted(kinds.items()):
        if kind != "table":
            if kind in ("virtual", "shadow"):
                notes.append(f"{name}: {kind} table, not migrated")
            continue
        tables.append(_read_table(conn, name, int(seqs.get(name) or 0)))
    return tables, notes


def _read_table(conn: sqlite3.Connection, name: str, seq: int) -> Table:
    cols = [Column(r[1], r[2] or "", bool(r[3]), r[4], int(r[5]))
            for r in _rows(conn, f"PRAGMA table_info({qi(name)})")]
    pk = [c.name for c in sorted((c for c in cols if c.pk), key=lambda c: c.pk)]
    without_rowid = _is_without_rowid(conn, name)
    alias = None
    if len(pk) == 1 and not without_rowid:
        c = next(c for c in cols if c.name == pk[0])
        if c.decl_type.strip().upper() == "INTEGER":
            alias = c.name
    t = Table(name, cols, pk, alias, seq, without_rowid=without_rowid)
    fks: dict[int, ForeignKey] = {}
    for r in _rows(conn, f"PRAGMA foreign_key_list({qi(name)})"):
        fk_id, ref, frm, to, on_update, on_delete = r[0], r[2], r[3], r[4], r[5], r[6]
        fk = fks.setdefault(fk_id, ForeignKey([], ref, [], on_delete, on_update))
        fk.columns.append(frm)
        if to is not None:
            fk.ref_columns.append(to)
    for fk in fks.values():
        if not fk.ref_columns:  # REFERENCES parent without columns: the parent's primary key
            fk.ref_columns = [r[1] for r in sorted(
                (r for r in _rows(conn, f"PRAGMA table_info({qi(fk.ref_table)})") if r[5]),
                key=lambda r: r[5])]
    t.foreign_keys = list(fks.values())
    for r in _rows(conn, f"PRAGMA index_list({qi(name)})"):
        iname, unique, origin, partial = r[1], bool(r[2]), r[3], bool(r[4])
        if origin == "pk":
            continue
        info = _rows(conn, f"PRAGMA index_xinfo({qi(iname)})")
        key_cols = [x for x in info if x[5]]
        idx = Index(iname, unique, [x[2] for x in key_cols if x[1] >= 0], origin)
        if partial:
            idx.skipped = "partial index (WHERE clause) is not translated"
        elif any(x[1] < 0 for x in key_cols):
            idx.skipped = "expression index is not translated"
        elif any(x[3] for x in key_cols):
            idx.columns = [f"{x[2]}\0DESC" if x[3] else str(x[2]) for x in key_cols]
        t.indexes.append(idx)
    return t


def _is_without_rowid(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT wr FROM pragma_table_list WHERE name = ?", (name,)).fetchone()
    return bool(row and row[0])


def dependency_order(tables: list[Table]) -> list[Table]:
    """Parents before children (foreign keys); cycles and self-references keep input order."""
    by_name = {t.name: t for t in tables}
    done: list[Table] = []
    seen: set[str] = set()

    def visit(t: Table, trail: set[str]) -> None:
        if t.name in seen or t.name in trail:
            return
        trail.add(t.name)
        for fk in t.foreign_keys:
            parent = by_name.get(fk.ref_table)
            if parent is not None and parent.name != t.name:
                visit(parent, trail)
        seen.add(t.name)
        done.append(t)

    for t in tables:
        visit(t, set())
    return done


def fingerprint(conn: sqlite3.Connection, path: str | Path) -> str:
    """Identifies the source a target was loaded from: schema text and file size."""
    h = hashlib.sha256()
    for (sql,) in _rows(conn, "SELECT coalesce(sql, '') FROM sqlite_master ORDER BY name"):
        h.update(sql.encode())
    h.update(str(Path(path).stat().st_size).encode())
    return h.hexdigest()[:16]
