"""`opsbook db report` speed on a database with many tables and indexes, beside psql.

    uv run python bench/db.py                   # 1,000 tables, 3,000 indexes; target: report < 1 s
    uv run python bench/db.py --tables 5000 --rounds 5

What it does, against the PostgreSQL server at --admin-dsn (default 127.0.0.1:5432, user postgres):

1. Creates a scratch database ``opsbook_bench_db_<random>`` with --tables tables, each with a
   primary key and two more indexes (3 indexes per table), a few rows each, a duplicate index on
   every tenth table, then ``ANALYZE``. The build time is printed on its own.
2. Times, one after the other (median of --rounds):
   - ``opsbook db report`` as a user runs it: the CLI in a subprocess, Markdown to /dev/null
     (Python start-up, config load, connect, all nine reports, rendering), with byte-compiled
     modules as an installed package has them (a temporary PYTHONPYCACHEPREFIX, warmed by one
     untimed run, whatever PYTHONDONTWRITEBYTECODE says);
   - ``opsbook config validate``: the start-up every command pays (imports, config load), for scale;
   - the same reports in-process (``ops.db.acollect``: connect plus the nine reports' queries and
     shaping, no start-up);
   - psql running the very statements the reports sent (recorded from one in-process run, with
     their parameters bound), from a file, output to /dev/null: the fair peer for "the raw
     queries", one connection, no shaping, no rendering.
3. Prints the counts (tables, indexes, duplicates found) and the times, and drops the database
   (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from _pg import scratch_database  # bench/ is on sys.path when a bench runs

from opsbook.config.resources import PostgresResource
from opsbook.dbdiag import REPORTS
from opsbook.dbdiag import base as dbbase
from opsbook.ops import db as ops_db


def build(dsn: str, tables: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for start in range(0, tables, 100):
            stmts = []
            for i in range(start, min(start + 100, tables)):
                stmts.append(f"CREATE TABLE t{i} (id int PRIMARY KEY, a int, b text, c timestamptz DEFAULT now())")
                stmts.append(f"CREATE INDEX t{i}_a ON t{i} (a)")
                stmts.append(f"CREATE INDEX t{i}_ab ON t{i} (a, b)")
                stmts.append(f"INSERT INTO t{i} (id, a, b) SELECT g, g % 7, 'x' || g FROM generate_series(1, 20) g")
            c.execute("; ".join(stmts))
        c.execute("ANALYZE")


def recorded_statements(res: PostgresResource) -> list[str]:
    """The statements one in-process report sends, with their parameters bound (for psql)."""
    sent: list[tuple[str, Any]] = []
    original = dbbase.Query.rows

    async def spy(self: dbbase.Query, text: str, params: Any = None) -> list[dict[str, Any]]:
        sent.append((text, params))
        return await original(self, text, params)

    dbbase.Query.rows = spy  # type: ignore[method-assign]
    try:
        asyncio.run(ops_db.acollect(res, "bench", list(REPORTS), dbbase.Options()))
    finally:
        dbbase.Query.rows = original  # type: ignore[method-assign]
    dsn = str(res.dsn)
    with psycopg.connect(dsn) as c:
        cur = psycopg.ClientCursor(c)
        return [cur.mogrify(text, params).strip().rstrip(";") + ";" for text, params in sent]


def timed(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=1000, help="tables (3 indexes each)")
    ap.add_argument("--rounds", type=int, default=3, help="repeat each side; report medians")
    ap.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with scratch_database(args.admin_dsn, "opsbook_bench_db") as dsn:
        t0 = time.perf_counter()
        build(dsn, args.tables)
        with psycopg.connect(dsn, autocommit=True) as c:
            for i in range(0, args.tables, 10):
                c.execute(f"CREATE INDEX t{i}_a_twin ON t{i} (a)")
            n_tables, n_indexes = c.execute(
                "SELECT (SELECT count(*) FROM pg_stat_user_tables), (SELECT count(*) FROM pg_stat_user_indexes)"
            ).fetchone() or (0, 0)
        print(f"built {n_tables} tables, {n_indexes} indexes in {time.perf_counter() - t0:.1f} s")
        res = PostgresResource(kind="postgres", dsn=dsn)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "opsbook.yaml"
            cfg.write_text(f'resources:\n  db: {{kind: postgres, dsn: "{dsn}"}}\n')
            script = Path(tmp) / "queries.sql"
            stmts = recorded_statements(res)
            script.write_text("\n".join(stmts) + "\n")
            # as installed: byte-compiled modules. This environment may set PYTHONDONTWRITEBYTECODE, which
            # makes every start compile ~360 modules (~1.8 s); the cache goes to a temp dir, warmed once
            env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "NO_COLOR": "1",
                   "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}

            def cli() -> None:
                subprocess.run([sys.executable, "-m", "opsbook", "db", "report", "db", "-c", str(cfg)], check=True,
                               stdout=subprocess.DEVNULL, env=env)

            def floor() -> None:  # what every opsbook command pays before its own work
                subprocess.run([sys.executable, "-m", "opsbook", "config", "validate", "-c", str(cfg)], check=True,
                               stdout=subprocess.DEVNULL, env=env)

            doc: dict[str, Any] = {}

            def inproc() -> None:
                doc.update(asyncio.run(ops_db.acollect(res, "db", list(REPORTS), dbbase.Options())))

            def psql() -> None:
                subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-d", dsn, "-f", str(script)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            cli()  # warm the bytecode cache
            t_cli, t_in, t_psql = timed(cli, args.rounds), timed(inproc, args.rounds), timed(psql, args.rounds)
            t_floor = timed(floor, args.rounds)
        reports = doc["reports"]
        statuses = ", ".join(f"{n} {r['status']}" for n, r in reports.items())
        print(f"reports: {statuses}")
        print(f"indexes seen {reports['indexes']['count']}, duplicates found "
              f"{len(reports['indexes']['duplicate'])} (list capped at --limit 20)")
        print(f"{len(stmts)} statements per report run; median of {args.rounds}:")
        print(f"  opsbook db report (CLI, start-up included) {t_cli * 1000:7.0f} ms   target < 1000 ms: "
              f"{'ok' if t_cli < 1 else 'MISSED'}")
        print(f"  opsbook config validate (CLI start-up floor){t_floor * 1000:6.0f} ms")
        print(f"  opsbook reports in-process                 {t_in * 1000:7.0f} ms   target < 1000 ms: "
              f"{'ok' if t_in < 1 else 'MISSED'}")
        print(f"  psql -f the same statements                {t_psql * 1000:7.0f} ms   "
              f"(in-process / psql = {t_in / t_psql:.2f}x)")
        print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        return 0 if t_in < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
