"""The demo service's SQLite database: schema, the test user, password hashing."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path

TEST_EMAIL = "test@example.com"
TEST_PASSWORD = "correct horse"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS habits (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    streak INTEGER NOT NULL DEFAULT 0
);
"""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt: memory-hard, in the standard library; stored as ``scrypt$salt$hash`` in hex."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    # constant-time comparison, so timing does not reveal how much of the hash matched
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


def init_db(path: Path) -> None:
    """Create the schema, one migration row and the test user; safe to run again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as conn:
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO _sqlx_migrations (version, description) VALUES (1, 'initial')"
        )
        if conn.execute("SELECT 1 FROM users WHERE email = ?", (TEST_EMAIL,)).fetchone() is None:
            cur = conn.execute(
                "INSERT INTO users (email, password_hash) VALUES (?, ?)",
                (TEST_EMAIL, hash_password(TEST_PASSWORD)),
            )
            conn.executemany(
                "INSERT INTO habits (user_id, name, streak) VALUES (?, ?, ?)",
                [(cur.lastrowid, "read 20 pages", 3), (cur.lastrowid, "walk", 12)],
            )
    conn.close()
