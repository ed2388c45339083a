"""Backup and restore speed: opsbook vs ``pg_dump | gzip`` vs ``pg_dump -Fc``, side by side.

    uv run python bench/backup.py [--size-mb 1000] [--admin-dsn postgresql://postgres@127.0.0.1/postgres]

1. Generates a database of about ``--size-mb`` MB (users, orders, events: text, numeric and
   timestamp columns, primary keys and secondary indexes) in a scratch database; the
   generation time is printed apart.
2. Backup, one after the other on the same data: the seed's ``pg_dump | gzip``, ``pg_dump -Fc``
   (default compression), ``pg_dump -Fc -Z0 > /dev/null`` (the floor: dumping alone), and
   ``opsbook backup run`` (zstd + age, local directory; includes the exact row counts).
3. Restore: plain ``pg_restore -j 2`` of the same (plain) dump into a scratch database vs the
   restore phase of ``opsbook drill run`` (restore into a scratch database, ``jobs: 2``).
4. Prints sizes, times and ratios against the targets, drops every database and temp file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

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
    ap.add_argument("--admin-dsn", default=os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1/postgres"))
    args = ap.parse_args()
    admin = args.admin_dsn
    tag = uuid.uuid4().hex[:8]
    src_name, plain_name = f"bench_backup_{tag}", f"bench_restore_{tag}"
    work = Path(tempfile.mkdtemp(prefix="opsbook-bench-"))
    made = [src_name]
    try:
        src = create_db(admin, src_name)
        scale = args.size_mb / 1000
        n = {"users": int(200_000 * scale) or 1, "orders": int(2_000_000 * scale) or 1,
             "events": int(4_500_000 * scale) or 1}
        t0 = time.perf_counter()
        with psycopg.connect(src, autocommit=True) as c:
            for stmt in GEN:
                c.execute(stmt.format(**n))  # type: ignore[arg-type]
            size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        print(f"generated {size / 1e6:.0f} MB ({n}) in {time.perf_counter() - t0:.1f}s", flush=True)

        rows: list[tuple[str, float, int | None]] = []
        t = sh(f"pg_dump '{src}' | gzip > {work}/seed.sql.gz")
        rows.append(("pg_dump | gzip (seed)", t, (work / "seed.sql.gz").stat().st_size))
        t = sh(f"pg_dump -Fc '{src}' > {work}/default.pgc")
        rows.append(("pg_dump -Fc (default compression)", t, (work / "default.pgc").stat().st_size))
        t = sh(f"pg_dump -Fc -Z0 '{src}' > /dev/null")
        rows.append(("pg_dump -Fc -Z0 > /dev/null (floor)", t, None))

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
        from opsbook.app import load
        from opsbook.jobs.backup.pipeline import run_backup
        from opsbook.jobs.drill import run_drill

        config = load(cfg)
        t0 = time.perf_counter()
        res = run_backup(config, "bench")
        t = time.perf_counter() - t0
        level = res.manifest.options.get("zstd", {}).get("level", "?")
        rows.append((f"opsbook backup (zstd -{level} -T2 + age, counts)", t, res.manifest.size))
        phases = ", ".join(f"{k} {v / 1000:.2f}s" for k, v in res.manifest.timings_ms.items())
        t0 = time.perf_counter()
        res_dir = run_backup(config, "bench-dir")
        dir_row = (f"opsbook backup, directory format -j 2 (zstd -{level})", time.perf_counter() - t0,
                   res_dir.manifest.size)

        print(f"\n{'backup':<46}{'seconds':>9}{'size MB':>10}")
        for name, secs, sz in [*rows, dir_row]:
            print(f"{name:<46}{secs:>9.2f}{'' if sz is None else f'{sz / 1e6:.1f}':>10}")
        gz, fc, floor, ob = rows
        print(f"\nopsbook vs pg_dump|gzip: {gz[1] / ob[1]:.2f}x faster (target >= 2x), "
              f"size {ob[2] / gz[2]:.2f} of gzip's (target <= 1)")  # type: ignore[operator]
        print(f"opsbook vs pg_dump -Fc: {fc[1] / ob[1]:.2f}x faster, size {ob[2] / fc[2]:.2f} of it")  # type: ignore[operator]
        print(f"opsbook / pg_dump -Fc -Z0 > /dev/null: {ob[1] / floor[1]:.2f}x (target <= 1.15x)")
        print(f"opsbook directory format -j 2 / pg_dump -Fc -Z0 > /dev/null: {dir_row[1] / floor[1]:.2f}x, "
              f"size {dir_row[2] / gz[2]:.2f} of gzip's")
        print(f"opsbook backup phases: {phases}")

        # restore: the same plain dump, restored by pg_restore -j 2 and by the drill
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
