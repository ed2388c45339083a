"""Backup and restore speed: opsbook vs ``pg_dump | gzip`` vs ``pg_dump -Fc``, side by side.

    uv run python bench/backup.py [--size-mb 1000] [--rounds 3] [--reuse-db NAME] [--no-restore]
                                  [--admin-dsn postgresql://postgres@127.0.0.1/postgres]

1. Generates a database of about ``--size-mb`` MB (users, orders, events: text, numeric and
   timestamp columns, primary keys and secondary indexes) in a scratch database; the
   generation time is printed apart.
2. Backup, one after the other on the same data: the seed's ``pg_dump | gzip``, ``pg_dump -Fc``
   (default compression), ``pg_dump -Fc -Z0 > /dev/null`` (the floor: dumping alone), and
   ``opsbook backup run`` (zstd + age, local directory; includes the exact row counts), then
   the floor and opsbook again for ``--rounds`` in all (order alternating). Every row reports
   the median wall time and CPU seconds: of the client side (this process when in-process, and
   its children) and of the server processes serving the database (sampled from /proc).
3. Restore: plain ``pg_restore -j 2`` of the same (plain) dump into a scratch database vs the
   restore phase of ``opsbook drill run`` (restore into a scratch database, ``jobs: 2``).
4. Prints sizes, times and ratios against the targets, drops every database and temp file.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcpu import ServerCpu

GEN = [
    "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text, created_at timestamptz)",
    "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL, total numeric(12,2), "
    "status text, note text, created_at timestamptz)",
    "CREATE TABLE events (id bigserial PRIMARY KEY, user_id bigint NOT NULL, kind text, payload text, "
    "amount numeric(14,4), created_at timestamptz)",
    "INSERT INTO users (email, name, created_at) SELECT 'user' || g || '@example.com', "
    "'Name ' || md5(g::text), now() - g * interval '1 minute' FROM generate_series(1, {users}) g",
    "INSERT INTO orders (user_id, total, status, note, created_at) SELECT 1 + g % {users}, "
    "(g % 10000) / 3.0, (ARRAY['paid','open','refunded'])[1 + g % 3], 'order note ' || md5(g::text), "
    "now() - g * interval '1 second' FROM generate_series(1, {orders}) g",
    "INSERT INTO events (user_id, kind, payload, amount, created_at) SELECT 1 + g % {users}, "
    "(ARRAY['login','habit.completed','streak.updated','payment'])[1 + g % 4], "
    "'{{\"habit\": ' || (g % 977) || ', \"note\": \"' || md5(g::text) || '\", \"ok\": true}}', "
    "g / 7.0, now() - g * interval '100 ms' FROM generate_series(1, {events}) g",
    "CREATE INDEX ON orders (user_id)",
    "CREATE INDEX ON events (user_id, created_at)",
    "CREATE INDEX ON events (kind)",
    "VACUUM ANALYZE",
]


def _cpu() -> float:
    c, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return c.ru_utime + c.ru_stime + me.ru_utime + me.ru_stime


@dataclass
class Timed:
    wall: float
    client_cpu: float  # this process (in-process runs) and its children
    server_cpu: float


def timed(admin: str, db: str, fn: Callable[[], object]) -> Timed:
    c0 = _cpu()
    with ServerCpu(admin, db) as srv:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    return Timed(wall, _cpu() - c0, srv.seconds)


def sh(cmd: str, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, executable="/bin/bash", env=env)
    return time.perf_counter() - t0


def create_db(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(admin, dbname=name)


def drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1000, help="approximate database size (default 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="backup rounds (order alternates); medians reported")
    ap.add_argument("--reuse-db", metavar="NAME", help="an already generated database: not generated, not dropped")
    ap.add_argument("--no-restore", action="store_true", help="skip the restore comparison")
    ap.add_argument("--admin-dsn", default=os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1/postgres"))
    args = ap.parse_args()
    admin = args.admin_dsn
    tag = uuid.uuid4().hex[:8]
    src_name, plain_name = args.reuse_db or f"bench_backup_{tag}", f"bench_restore_{tag}"
    work = Path(tempfile.mkdtemp(prefix="opsbook-bench-"))
    made = [] if args.reuse_db else [src_name]
    try:
        if args.reuse_db:
            src = make_conninfo(admin, dbname=src_name)
        else:
            src = create_db(admin, src_name)
            scale = args.size_mb / 1000
            n = {"users": int(200_000 * scale) or 1, "orders": int(2_000_000 * scale) or 1,
                 "events": int(4_500_000 * scale) or 1}
            t0 = time.perf_counter()
            with psycopg.connect(src, autocommit=True) as c:
                for stmt in GEN:
                    c.execute(stmt.format(**n))
            print(f"generated {n} in {time.perf_counter() - t0:.1f}s", flush=True)
        with psycopg.connect(src, autocommit=True) as c:
            size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        print(f"database {size / 1e6:.0f} MB; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}",
              flush=True)

        subprocess.run(["age-keygen", "-o", str(work / "key.txt")], check=True, capture_output=True)
        pub = subprocess.run(["age-keygen", "-y", str(work / "key.txt")], check=True, capture_output=True,
                             text=True).stdout.strip()
        cfg = work / "opsbook.yaml"
        cfg.write_text(f"""
resources:
  db: {{kind: postgres, dsn: "{src}"}}
  target: {{kind: postgres, dsn: "{admin}"}}
backups:
  bench: {{source: db, path: ./store, encrypt: {{age_recipients: ["{pub}"]}}}}
  bench-dir: {{source: db, path: ./store, format: directory, jobs: 2, encrypt: {{age_recipients: ["{pub}"]}}}}
drills:
  bench: {{backup: bench, target: {{resource: target}}, identity: {{file: {work / 'key.txt'}}}, jobs: 2}}
""")
        from opsbook.jobs.backup.pipeline import BackupResult, run_backup
        from opsbook.jobs.drill import run_drill
        from opsbook.ops.load import load

        config = load(cfg)
        kept: dict[str, BackupResult] = {}
        sizes: dict[str, int] = {}

        def ours(name: str) -> None:
            kept[name] = res = run_backup(config, name)
            sizes[name] = res.manifest.size
            shutil.rmtree(work / "store" / name / res.manifest.id, ignore_errors=True)  # keep the disk tidy

        def dump_to(cmd: str, out: str | None) -> Callable[[], None]:
            def run() -> None:
                sh(cmd)
                if out:
                    sizes[out] = (work / out).stat().st_size
                    (work / out).unlink()
            return run

        sides: dict[str, Callable[[], None]] = {
            "pg_dump \\| gzip (seed)": dump_to(f"pg_dump '{src}' | gzip > {work}/seed.sql.gz", "seed.sql.gz"),
            "pg_dump -Fc (default compression)": dump_to(f"pg_dump -Fc '{src}' > {work}/default.pgc", "default.pgc"),
            "pg_dump -Fc -Z0 > /dev/null (floor)": dump_to(f"pg_dump -Fc -Z0 '{src}' > /dev/null", None),
            "opsbook backup": lambda: ours("bench"),
            "opsbook backup, directory format -j 2": lambda: ours("bench-dir"),
        }
        size_of = {"pg_dump \\| gzip (seed)": "seed.sql.gz", "pg_dump -Fc (default compression)": "default.pgc",
                   "opsbook backup": "bench", "opsbook backup, directory format -j 2": "bench-dir"}
        runs: dict[str, list[Timed]] = {k: [] for k in sides}
        # the slow gzip and -Fc rows once; the rows the targets compare (floor, opsbook) every round
        order = list(sides)
        for i in range(args.rounds):
            names = order if i == 0 else ["pg_dump -Fc -Z0 > /dev/null (floor)", "opsbook backup"]
            if i % 2:
                names = names[::-1]
            for name in names:
                runs[name].append(timed(admin, src_name, sides[name]))
            tf, to = runs["pg_dump -Fc -Z0 > /dev/null (floor)"][-1], runs["opsbook backup"][-1]
            print(f"round {i + 1}: floor {tf.wall:.2f} s, opsbook {to.wall:.2f} s ({to.wall / tf.wall:.2f}x); "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)

        def med(name: str, attr: str) -> float:
            return float(statistics.median(getattr(t, attr) for t in runs[name]))

        level = kept["bench"].manifest.options.get("zstd", {}).get("level", "?")
        print("\n| backup | runs | wall s (median) | client CPU s | server CPU s | size MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in order:
            sz = sizes.get(size_of.get(name, ""))
            label = f"{name} (zstd -{level} -T2 + age, counts)" if name == "opsbook backup" else name
            print(f"| {label} | {len(runs[name])} | {med(name, 'wall'):.2f} | {med(name, 'client_cpu'):.2f} "
                  f"| {med(name, 'server_cpu'):.2f} | {'-' if sz is None else f'{sz / 1e6:.1f}'} |")
        gz, fl, ob = "pg_dump \\| gzip (seed)", "pg_dump -Fc -Z0 > /dev/null (floor)", "opsbook backup"
        ratios = sorted(o.wall / f.wall for o, f in zip(runs[ob], runs[fl], strict=True))
        print(f"\nopsbook vs pg_dump|gzip: {med(gz, 'wall') / med(ob, 'wall'):.2f}x faster (target >= 2x), "
              f"size {sizes['bench'] / sizes['seed.sql.gz']:.2f} of gzip's (target <= 1)")
        print(f"opsbook vs pg_dump -Fc: {med('pg_dump -Fc (default compression)', 'wall') / med(ob, 'wall'):.2f}x "
              f"faster, size {sizes['bench'] / sizes['default.pgc']:.2f} of it")
        print(f"opsbook / pg_dump -Fc -Z0 > /dev/null: {statistics.median(ratios):.2f}x median of {len(ratios)} "
              f"(spread {ratios[0]:.2f}-{ratios[-1]:.2f}; target <= 1.15x)")
        print(f"CPU seconds, client + server: floor {med(fl, 'client_cpu') + med(fl, 'server_cpu'):.2f}, opsbook "
              f"{med(ob, 'client_cpu') + med(ob, 'server_cpu'):.2f}; on 2 cores opsbook cannot take less than "
              f"{(med(ob, 'client_cpu') + med(ob, 'server_cpu')) / 2:.2f} s")
        dr = "opsbook backup, directory format -j 2"
        print(f"opsbook directory format -j 2 / floor: {med(dr, 'wall') / med(fl, 'wall'):.2f}x, "
              f"size {sizes['bench-dir'] / sizes['seed.sql.gz']:.2f} of gzip's")
        print("opsbook backup phases (last round): "
              + ", ".join(f"{k} {v / 1000:.2f}s" for k, v in kept["bench"].manifest.timings_ms.items()))
        if args.no_restore:
            return 0

        # restore: the same plain dump, restored by pg_restore -j 2 and by the drill
        run_backup(config, "bench")  # the drill restores the latest backup
        sh(f"pg_dump -Fc -Z0 '{src}' > {work}/plain.pgc")
        plain = create_db(admin, plain_name)
        made.append(plain_name)
        t_plain = sh(f"pg_restore -j 2 --no-owner --no-privileges -d '{plain}' {work}/plain.pgc")
        drop_db(admin, plain_name)
        d = run_drill(config, "bench")
        t_drill = d.phases_ms["restore"] / 1000
        print(f"\n{'restore':<46}{'seconds':>9}")
        print(f"{'pg_restore -j 2 (plain)':<46}{t_plain:>9.2f}")
        print(f"{'opsbook drill: restore phase (jobs: 2)':<46}{t_drill:>9.2f}")
        print(f"{'opsbook drill: all phases (RTO)':<46}{d.rto_s:>9.2f}  "
              + ", ".join(f"{k} {v / 1000:.2f}s" for k, v in d.phases_ms.items()))
        print(f"\ndrill restore / pg_restore -j 2: {t_drill / t_plain:.2f}x (target <= 1.1x); drill ok: {d.ok}")
        return 0 if d.ok else 1
    finally:
        for name in made:
            drop_db(admin, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
