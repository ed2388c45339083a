"""Each store table has one owner module in src/opsbook/store/ (its migrations, both dialects'
SQL, typed functions); nobody else writes SQL against it or reaches into the raw database.

Only the store's own table names are looked for: SQL that checks/, integrity/, jobs/, migrate/
and demo/ send to the user's databases is not store SQL (their ``self.db`` is a user database)."""

from __future__ import annotations

import re
from pathlib import Path

from opsbook.store.schema import OWNER_OF, OWNERS, TABLES

SRC = Path(__file__).resolve().parent.parent / "src" / "opsbook"
# SQL that names a table, over line breaks and string concatenation ("... FROM " "runs ...")
_TABLE = "|".join(sorted((*TABLES, "opsbook_schema_version"), key=len, reverse=True))
SQL = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|ON)\s*(?:[\"']\s*\+?\s*[\"']?\s*)?(" + _TABLE + r")\b")
RAW_DB = re.compile(r"\.db\.|\b(?:store|tx|self\.store)\.db\b")
USER_DATABASES = ("checks", "integrity", "jobs", "migrate", "demo")
RUNNER = "opsbook.store.store"  # applies migrations, keeps opsbook_schema_version, counts rows


def module_of(path: Path) -> str:
    return ".".join(("opsbook", *path.relative_to(SRC).with_suffix("").parts))


def test_every_table_has_exactly_one_owner_in_store() -> None:
    assert set(OWNER_OF) == set(TABLES)
    for owner in OWNERS:
        assert owner.__name__.startswith("opsbook.store."), owner.__name__
        assert owner.TABLES, owner.__name__
        for _number, _description, statements in owner.MIGRATIONS:
            for sql in statements:  # a migration only creates or changes its owner's tables
                named = set(re.findall(r"\b(?:TABLE|ON)\s+(\w+)", sql))
                assert named <= set(owner.TABLES) | {"check_results"} if owner.__name__.endswith(".checks") \
                    else named <= set(owner.TABLES), (owner.__name__, named)


def test_no_store_sql_outside_its_owner() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        module = module_of(path)
        text = path.read_text()
        for m in SQL.finditer(text):
            table = m.group(1)
            owner = RUNNER if table == "opsbook_schema_version" else OWNER_OF[table]
            # rollup.py aggregates and prunes the raw results it rolls up (the check history group)
            if module == owner or (table == "check_results" and module == "opsbook.store.rollup"):
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{path.relative_to(SRC)}:{line}: SQL on {table} (owner: {owner})")
    assert not found, "store SQL outside its owner module:\n" + "\n".join(found)


def test_no_raw_database_access_outside_store() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("store", *USER_DATABASES):
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if RAW_DB.search(line) and not line.lstrip().startswith(("from ", "import ")):  # Tx, parse_ts: fine
                found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "use Store.transaction()/read() and the owner's functions, not .db:\n" + "\n".join(found)


def test_the_patterns_catch_what_they_should() -> None:
    assert SQL.search('"SELECT status FROM check_state WHERE env = ?"')
    assert SQL.search('"DELETE FROM " "runs WHERE id = ?"')
    assert SQL.search("INSERT INTO notify_outbox (dedup_key)")
    assert SQL.search("UPDATE\n        schedule_units SET x = 1")
    assert not SQL.search("SELECT * FROM orders")  # a user database's table
    assert not SQL.search("FROM runsheet")
    assert RAW_DB.search("with store.db.transaction() as tx:")
    assert RAW_DB.search("db = tx.db")
    assert not RAW_DB.search('path = "opsbook.db"')
