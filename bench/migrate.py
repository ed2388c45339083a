"""SQLite -> PostgreSQL: opsbook vs pgloader on the same generated database, side by side.

    uv run python bench/migrate.py [--scale 1.0] [--regenerate] [--hash] [--jobs 2] [--rounds 3]

Generates (once, cached in bench/.cache/) a SQLite database of ~1.12M rows over 6 tables with
foreign keys (see migrate_data.py), then per round: pgloader into a scratch database, the real
`opsbook migrate sqlite-to-postgres` CLI (snapshot + audit + load + keys + full reconciliation)
into another (the order alternates per round). Prints per round and as medians: wall time,
rows/s, CPU seconds of the client process (user+sys, from RUSAGE_CHILDREN) and of the server
backends it used (sampled from /proc, since the server is shared with other work), and the
ratio; drops every database at the end (also on Ctrl-C). Exit 0 when both loaded every row and
opsbook reconciled in every round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from migrate_data import generate
from pgcpu import ServerCpu

ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
CACHE = Path(__file__).resolve().parent / ".cache"


def dsn_for(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def count_rows(dsn: str, tables: list[str]) -> int:
    total = 0
    with psycopg.connect(dsn) as c:
        for t in tables:
            row = c.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
            total += int(row[0]) if row else 0
    return total


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def opsbook_env() -> dict[str, str]:
    """opsbook's environment: Python's bytecode cache on, kept out of the work tree.

    An installed opsbook starts from cached bytecode; with PYTHONDONTWRITEBYTECODE=1 (set in
    some sandboxes and CI images) every start compiles ~280 modules again, ~1 s of a ~10 s run
    that a user does not pay. The cache lives in bench/.cache/pycache (gitignored).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    return env


def run_side(name: str, cmd: list[str], db: str, tables: list[str], cwd: Path) -> dict[str, Any]:
    c0 = children_cpu()
    with ServerCpu(ADMIN, db) as srv:
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL,
                           env=opsbook_env() if name == "opsbook" else None)
        wall = time.monotonic() - t0
    out: dict[str, Any] = {"wall": wall, "code": p.returncode, "rows": count_rows(dsn_for(db), tables),
                           "client_cpu": children_cpu() - c0, "server_cpu": srv.seconds}
    if p.returncode != 0:
        print(f"{name} failed:", p.stdout[-3000:], p.stderr[-2000:], file=sys.stderr)
    if name == "opsbook" and p.stdout.strip().startswith("{"):
        out["doc"] = json.loads(p.stdout)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--hash", action="store_true", help="pass --hash to opsbook")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="rounds (the order alternates); medians reported")
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
    # an untimed start fills the bytecode cache, as the first run of an installed opsbook does
    subprocess.run([sys.executable, "-m", "opsbook", "migrate", "sqlite-to-postgres", "--help"], env=opsbook_env(),
                   capture_output=True, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "src")],
                   env=opsbook_env(), capture_output=True, check=False)
    suffix = uuid.uuid4().hex[:8]
    made: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="opsbook-bench-migrate-"))
    rounds: list[dict[str, dict[str, Any]]] = []
    ok = True
    print(f"source: {total:,} rows in {len(tables)} tables ({src.stat().st_size / 1e6:.0f} MB); "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        for i in range(a.rounds):
            dbs = {"pgloader": f"bench_pgloader_{suffix}_{i}", "opsbook": f"bench_opsbook_{suffix}_{i}"}
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                for db in dbs.values():
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
                    made.append(db)
            cmds = {"pgloader": [pgloader, f"sqlite://{src}", dsn_for(dbs["pgloader"])],
                    "opsbook": [sys.executable, "-m", "opsbook", "migrate", "sqlite-to-postgres", "--from", str(src),
                                "--to", dsn_for(dbs["opsbook"]), "--json", "--jobs", str(a.jobs),
                                "--report-dir", str(work / f"r{i}"), *(["--hash"] if a.hash else [])]}
            order = ["pgloader", "opsbook"] if i % 2 == 0 else ["opsbook", "pgloader"]
            r = {name: run_side(name, cmds[name], dbs[name], tables, work) for name in order}
            rounds.append(r)
            for name in ("pgloader", "opsbook"):
                ok = ok and r[name]["code"] == 0 and r[name]["rows"] == total
            doc = r["opsbook"].get("doc") or {}
            ok = ok and bool((doc.get("reconcile") or {}).get("ok"))
            print(f"round {i + 1}: pgloader {r['pgloader']['wall']:.2f} s, opsbook {r['opsbook']['wall']:.2f} s "
                  f"({r['pgloader']['wall'] / r['opsbook']['wall']:.2f}x); opsbook phases {doc.get('phases')}; "
                  f"reconcile ok: {(doc.get('reconcile') or {}).get('ok')}; load average {os.getloadavg()[0]:.2f}",
                  flush=True)
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                for db in dbs.values():
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))

        def med(name: str, key: str) -> float:
            return float(statistics.median(r[name][key] for r in rounds))

        print()
        print("| tool | rows loaded | wall s (median) | rows/s | client CPU s | server CPU s | exit |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in ("pgloader", "opsbook"):
            last = rounds[-1][name]
            print(f"| {name} | {last['rows']:,} | {med(name, 'wall'):.2f} | {last['rows'] / med(name, 'wall'):,.0f} "
                  f"| {med(name, 'client_cpu'):.2f} | {med(name, 'server_cpu'):.2f} | {last['code']} |")
        ratios = sorted(r["pgloader"]["wall"] / r["opsbook"]["wall"] for r in rounds)
        ratio = statistics.median(ratios)
        print(f"ratio opsbook / pgloader (rows/s): {ratio:.2f}x median of {len(rounds)} "
              f"(spread {ratios[0]:.2f}-{ratios[-1]:.2f}; {'at least as fast' if ratio >= 1 else 'slower'}; "
              f"target >= 1.0x, reconciliation included{', with --hash' if a.hash else ''})")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for db in made:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
