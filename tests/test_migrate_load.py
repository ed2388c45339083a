"""The load reads rowid tables in chunks of rows: every kind of table arrives whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from opsbook.migrate import load
from tests.support import pgutil
from tests.support.clirun import opsbook

scratch_pg_database = pgutil.scratch_pg_database


def test_chunked_reading_loads_every_row_of_every_kind_of_table(tmp_path: Path, scratch_pg_database: str) -> None:
    n = load.BATCH_ROWS * 2 + 7  # more than two chunks
    db = sqlite3.connect(tmp_path / "app.db")
    db.executescript(f"""
        CREATE TABLE sparse (id INTEGER PRIMARY KEY, v TEXT);
        CREATE TABLE plain (a TEXT, b INTEGER);
        CREATE TABLE named (rowid TEXT, oid INTEGER);
        CREATE TABLE norowid (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
        CREATE TABLE empty (id INTEGER PRIMARY KEY, v TEXT);
        WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n})
        INSERT INTO plain SELECT 'p' || x, x FROM s;
        WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n})
        INSERT INTO norowid SELECT 'k' || x, x FROM s;
        INSERT INTO named VALUES ('r1', 1), ('r2', 2), (NULL, NULL);
    """)
    # negative, huge and far apart rowids: chunks follow the rowids, not their range
    db.executemany("INSERT INTO sparse VALUES (?, ?)",
                   [(-(2 ** 63), "min"), (-5, "neg"), (0, "zero"), (3, "a\tb"), (2 ** 40, "far"), (2 ** 63 - 1, "max")])
    db.commit()
    db.close()
    r = opsbook("migrate", "sqlite-to-postgres", "--from", str(tmp_path / "app.db"), "--to", scratch_pg_database,
                "--report-dir", str(tmp_path / "r"), "--json", cwd=tmp_path)
    assert r.code == 0, r.text
    rows = {t["table"]: (t["source_rows"], t["target_rows"]) for t in r.json["reconcile"]["tables"]}
    assert rows == {"sparse": (6, 6), "plain": (n, n), "named": (3, 3), "norowid": (n, n), "empty": (0, 0)}
    assert r.json["reconcile"]["mismatches"] == []
    with psycopg.connect(scratch_pg_database) as c:
        assert c.execute("SELECT count(DISTINCT a), sum(b) FROM plain").fetchone() == (n, n * (n + 1) // 2)
        assert c.execute("SELECT v FROM sparse WHERE id = %s", (-(2 ** 63),)).fetchone() == ("min",)
        assert c.execute("SELECT v FROM sparse WHERE id = 3").fetchone() == ("a\tb",)
        assert sorted(c.execute("SELECT rowid, oid FROM named").fetchall(), key=str) == [
            ("r1", 1), ("r2", 2), (None, None)]
