"""SQLite -> PostgreSQL: opsbook vs pgloader on the same generated database, side by side.

    uv run python bench/migrate.py [--scale 1.0] [--regenerate] [--hash] [--jobs 2]

Generates (once, cached in bench/.cache/) a SQLite database of ~1.12M rows over 6 tables with
foreign keys (see migrate_data.py), then in one run: pgloader into scratch database A, the
real `opsbook migrate sqlite-to-postgres` CLI (snapshot + audit + load + keys + full
reconciliation) into scratch database B. Prints wall time, rows/s and the ratio; drops both
databases at the end (also on Ctrl-C). Exit 0 when both loaded every row and opsbook reconciled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from migrate_data import generate

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
CACHE = Path(__file__).resolve().parent / ".cache"


def dsn_for(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def count_rows(dsn: str, tables: list[str]) -> int:
    with psycopg.connect(dsn) as c:
        return sum(c.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                   for t in tables)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--hash", action="store_true", help="pass --hash to opsbook")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    pgloader = shutil.which("pgloader")
    if not pgloader:
        print("pgloader not found: apt-get install -y pgloader", file=sys.stderr)
        return 2
    CACHE.mkdir(exist_ok=True)
    src = CACHE / f"migrate-{a.scale:g}.db"
    if a.regenerate or not src.exists():
        t0 = time.monotonic()
        counts = generate(src, a.scale)
        print(f"generated {src} ({sum(counts.values()):,} rows) in {time.monotonic() - t0:.1f} s")
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as s:
        tables = [r[0] for r in s.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        total = sum(s.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    suffix = uuid.uuid4().hex[:8]
    dbs = {"pgloader": f"bench_pgloader_{suffix}", "opsbook": f"bench_opsbook_{suffix}"}
    work = Path(tempfile.mkdtemp(prefix="opsbook-bench-migrate-"))
    results: dict[str, tuple[float, int, int]] = {}
    ok = True
    try:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for db in dbs.values():
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        print(f"source: {total:,} rows in {len(tables)} tables ({src.stat().st_size / 1e6:.0f} MB); "
              f"{os.cpu_count()} cores")
        t0 = time.monotonic()
        p = subprocess.run([pgloader, f"sqlite://{src}", dsn_for(dbs["pgloader"])], capture_output=True,
                           text=True, cwd=work)
        results["pgloader"] = (time.monotonic() - t0, p.returncode, count_rows(dsn_for(dbs["pgloader"]), tables))
        if p.returncode != 0:
            print(p.stdout[-2000:], p.stderr[-2000:], file=sys.stderr)
        cmd = [sys.executable, "-m", "opsbook", "migrate", "sqlite-to-postgres", "--from", str(src),
               "--to", dsn_for(dbs["opsbook"]), "--json", "--jobs", str(a.jobs), "--report-dir", str(work / "r")]
        if a.hash:
            cmd.append("--hash")
        t0 = time.monotonic()
        o = subprocess.run(cmd, capture_output=True, text=True, cwd=work, stdin=subprocess.DEVNULL)
        results["opsbook"] = (time.monotonic() - t0, o.returncode, count_rows(dsn_for(dbs["opsbook"]), tables))
        doc = json.loads(o.stdout) if o.stdout.strip().startswith("{") else {}
        if o.returncode != 0:
            print(o.stdout[-3000:], o.stderr[-2000:], file=sys.stderr)
        print()
        print("| tool | rows loaded | wall s | rows/s | exit |")
        print("|---|---:|---:|---:|---:|")
        for name, (secs, code, rows) in results.items():
            print(f"| {name} | {rows:,} | {secs:.2f} | {rows / secs:,.0f} | {code} |")
            ok = ok and code == 0 and rows == total
        if doc:
            print(f"\nopsbook phases (s): {doc.get('phases')}; reconcile ok: {(doc.get('reconcile') or {}).get('ok')}"
                  f"{' (with --hash)' if a.hash else ''}")
        ratio = results["pgloader"][0] / results["opsbook"][0]
        print(f"ratio opsbook / pgloader (rows/s): {ratio:.2f}x "
              f"({'at least as fast' if ratio >= 1 else 'slower'}; target >= 1.0x, reconciliation included)")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for db in dbs.values():
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
