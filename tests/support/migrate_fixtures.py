"""A small SQLite app database with the shapes real ones have (Prisma-style epoch-ms dates,
booleans as 0/1 and 'true'/'false', AUTOINCREMENT with deleted rows, blobs, unicode)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

PASSWORD = "Migr8-Secret-pw-4471"

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT,
                    active BOOLEAN NOT NULL DEFAULT 1, created_at DATETIME);
CREATE TABLE habits (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                     title TEXT NOT NULL, streak INTEGER NOT NULL DEFAULT 0, score REAL, icon BLOB, starts DATE);
CREATE INDEX habits_user ON habits(user_id);
CREATE TABLE completions (id INTEGER PRIMARY KEY AUTOINCREMENT, habit_id INTEGER NOT NULL REFERENCES habits(id),
                          done_at DATETIME NOT NULL, note TEXT);
CREATE TABLE tags (name TEXT PRIMARY KEY, color TEXT);
CREATE TABLE habit_tags (habit_id INTEGER NOT NULL REFERENCES habits(id), tag TEXT NOT NULL REFERENCES tags(name),
                         PRIMARY KEY (habit_id, tag));
"""


def make_app_db(path: Path, big: int = 0) -> Path:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO users (email, name, active, created_at) VALUES (?, ?, ?, ?)", [
        ("ana@example.com", "Ana Ünal", 1, "2024-01-02 03:04:05"),
        ("bo@example.com", "Bo\twith tab\nand newline \\ backslash", 0, 1704164645),  # epoch s
        ("cy@example.com", "Zoë 🚀", "true", 1704164645123),  # epoch ms (Prisma)
        ("di@example.com", None, "false", "2024-01-02T03:04:05.250Z"),
        ("gone@example.com", "deleted", 1, None),
    ])
    db.execute("DELETE FROM users WHERE email = 'gone@example.com'")  # AUTOINCREMENT seq stays at 5
    db.executemany("INSERT INTO habits VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (1, 1, "Read", 3, 0.1, b"\x00\x01\xff", "2024-02-29"),
        (2, 1, "Run", 0, 1e300, None, None),
        (3, 2, "Write ✍", 12, -2.5, b"png", 1704067200),
    ])
    db.executemany("INSERT INTO completions (habit_id, done_at, note) VALUES (?, ?, ?)",
                   [(1 + i % 3, 1704164645000 + i * 1000, f"note {i}") for i in range(50)])
    db.executemany("INSERT INTO tags VALUES (?, ?)", [("health", "green"), ("work", None)])
    db.executemany("INSERT INTO habit_tags VALUES (?, ?)", [(1, "health"), (2, "health"), (3, "work")])
    if big:
        db.execute(f"""WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {big})
                       INSERT INTO completions (habit_id, done_at, note)
                       SELECT 1 + x % 3, datetime(1700000000 + x, 'unixepoch'), 'bulk ' || hex(randomblob(16))
                       FROM s""")
    db.commit()
    db.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_password(dsn: str) -> str:
    # trust auth ignores the password, so a DSN with one works and lets us prove redaction
    return dsn.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
