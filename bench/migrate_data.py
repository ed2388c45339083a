"""The benchmark's SQLite database: 6 tables, foreign keys, ~1.1M rows, generated in SQL.

Column kinds: INTEGER (autoincrement ids, counters, epoch-ms), REAL, TEXT (some non-ASCII),
BLOB, DATETIME (ISO text), BOOLEAN (0/1). Every value is produced inside SQLite by recursive
CTEs, so generating a million rows takes seconds, not minutes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  is_admin BOOLEAN NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL
);
CREATE TABLE projects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  budget REAL,
  created_at DATETIME NOT NULL
);
CREATE INDEX projects_owner ON projects(owner_id);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  assignee_id INTEGER REFERENCES users(id),
  title TEXT NOT NULL,
  priority INTEGER NOT NULL,
  estimate REAL,
  done BOOLEAN NOT NULL DEFAULT 0,
  due_at DATETIME
);
CREATE INDEX tasks_project ON tasks(project_id);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  kind TEXT NOT NULL,
  payload BLOB,
  score REAL,
  occurred_at DATETIME NOT NULL,
  seen_ms INTEGER
);
CREATE INDEX events_task ON events(task_id);
CREATE TABLE attachments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  filename TEXT NOT NULL,
  content BLOB NOT NULL,
  size INTEGER NOT NULL
);
CREATE TABLE tags (
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  tag TEXT NOT NULL,
  PRIMARY KEY (task_id, tag)
);
"""


def _seq(n: int) -> str:
    return f"WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n})"


def generate(path: Path, scale: float = 1.0) -> dict[str, int]:
    """Write the database at ``path``; return rows per table."""
    n = {"users": 50_000, "projects": 50_000, "tasks": 400_000, "events": 500_000,
         "attachments": 20_000, "tags": 100_000}
    n = {k: max(10, int(v * scale)) for k, v in n.items()}
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
    u, p, t = n["users"], n["projects"], n["tasks"]
    db.executescript(f"""
BEGIN;
{_seq(u)} INSERT INTO users (email, name, is_admin, created_at)
  SELECT 'user' || x || '@example.com', CASE WHEN x % 10 = 0 THEN 'Zoë Ünal ' || x ELSE 'User ' || x END,
         x % 50 = 0, datetime(1500000000 + x * 600, 'unixepoch') FROM s;
{_seq(p)} INSERT INTO projects (owner_id, title, budget, created_at)
  SELECT 1 + abs(random()) % {u}, 'Project "' || x || '"' || char(9) || 'tab',
         CASE WHEN x % 7 = 0 THEN NULL ELSE (abs(random()) % 10000000) / 100.0 END,
         datetime(1550000000 + x * 300, 'unixepoch') FROM s;
{_seq(t)} INSERT INTO tasks (project_id, assignee_id, title, priority, estimate, done, due_at)
  SELECT 1 + abs(random()) % {p}, CASE WHEN x % 5 = 0 THEN NULL ELSE 1 + abs(random()) % {u} END,
         'Task ' || x || ' ' || hex(randomblob(8)), abs(random()) % 5, random() / 1e15,
         x % 3 = 0, CASE WHEN x % 4 = 0 THEN NULL ELSE datetime(1600000000 + x * 60, 'unixepoch') END FROM s;
{_seq(n["events"])} INSERT INTO events (task_id, kind, payload, score, occurred_at, seen_ms)
  SELECT 1 + abs(random()) % {t}, 'kind-' || (x % 13), randomblob(24), random() / 9.2e18,
         strftime('%Y-%m-%d %H:%M:%f', 1650000000 + x * 7.25, 'unixepoch'),
         CASE WHEN x % 9 = 0 THEN NULL ELSE 1650000000000 + x * 7250 END FROM s;
{_seq(n["attachments"])} INSERT INTO attachments (task_id, filename, content, size)
  SELECT 1 + abs(random()) % {t}, 'file-' || x || '.bin', randomblob(256 + x % 512), 256 + x % 512 FROM s;
{_seq(n["tags"])} INSERT OR IGNORE INTO tags (task_id, tag)
  SELECT 1 + (x * 7) % {t}, 'tag-' || (x % 17) FROM s;
COMMIT;
""")
    counts = {name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in n}
    db.close()
    return counts
