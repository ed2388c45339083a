"""Shared set-up for backup and drill tests: an age key pair, a source database, a config file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.pgutil import execute

SEED_SQL = (
    "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz DEFAULT now())",
    "CREATE TABLE habits (id serial PRIMARY KEY, user_id bigint REFERENCES users(id), streak numeric(10,2))",
    "CREATE TABLE audit_logs (at timestamptz NOT NULL DEFAULT now(), msg text)",
    "CREATE TABLE stripe_events (event_id text PRIMARY KEY)",
    "INSERT INTO users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 2000) g",
    "INSERT INTO habits (user_id, streak) SELECT 1 + g % 2000, g / 7.0 FROM generate_series(1, 3000) g",
    "INSERT INTO audit_logs (msg) SELECT 'event ' || g FROM generate_series(1, 500) g",
    "INSERT INTO stripe_events SELECT 'evt_' || g FROM generate_series(1, 50) g",
)


def age_keypair(d: Path, name: str = "key") -> tuple[Path, str]:
    key = d / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    pub = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return key, pub


def seed(dsn: str) -> None:
    execute(dsn, *SEED_SQL)


def write_config(d: Path, body: str) -> Path:
    p = d / "opsbook.yaml"
    p.write_text(body)
    return p
