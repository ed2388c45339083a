"""Integrity suite speed: opsbook's planned queries vs the same checks as hand-written SQL.

    uv run python bench/integrity.py                 # quick: 1M rows
    uv run python bench/integrity.py --rows 10000000 # the target is measured here: <= 1.2x

What it does, against the PostgreSQL server at --admin-dsn (default 127.0.0.1:5432, user
postgres):

1. Creates a scratch database ``opsbook_bench_<random>`` and in it ``events`` with --rows rows
   built by ``generate_series`` (plus ``users``, 1000 rows, for the foreign key), plants a
   few violations of each kind, then ``VACUUM ANALYZE`` (so neither side pays for hint bits
   or guesses without statistics). The build time is printed on its own.
2. Runs the same 8 checks two ways, on the warmed table, one after the other in one run:
   - hand-written: 8 single SQL statements, each the obvious one-liner an operator would
     type into psql (``SELECT count(*) FROM events WHERE email IS NULL`` ...), sequentially
     on one connection;
   - opsbook: ``run_suite`` in-process on an 8-check suite (7 aggregate checks folded into
     one aggregate query, the foreign key as an anti-join, then samples with a LIMIT for the
     checks that found violations). Also timed with samples off (``--samples 0``), which is
     exactly the counting the hand-written side does. (On a PostgreSQL server with parallel
     workers the single-column unique's ``count(DISTINCT)`` gets a statement of its own, so
     the rest of the aggregate can run in parallel.)
   With --rounds > 1 the order alternates and the median is reported. A second hand-written
   side adds the 6 listing queries an operator types next to see the failing rows (LIMIT 5):
   the same work as opsbook with samples on.
3. Checks that both sides found the same violation counts, prints the times and the ratio
   (opsbook / hand-written), and drops the scratch database (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from _pg import scratch_database  # bench/ is on sys.path when a bench runs

from opsbook.config.load import load_config
from opsbook.integrity import run_suite
from opsbook.ops.load import kinds_info

CHECKS = [
    # (name, opsbook check, hand-written statement)
    ("unique:events.event_id", "unique: {table: events, columns: [event_id]}",
     "SELECT count(*) - count(DISTINCT event_id) FROM events"),
    ("references:events.user_id", "references: {table: events, column: user_id, to: users.id}",
     "SELECT count(*) FROM events e WHERE e.user_id IS NOT NULL"
     " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id)"),
    ("not_null:events.email", "not_null: {table: events, columns: [email]}",
     "SELECT count(*) FROM events WHERE email IS NULL"),
    ("row_count:events", "row_count: {table: events, min: 1}", "SELECT count(*) FROM events"),
    ("accepted_values:events.status",
     "accepted_values: {table: events, column: status, values: [active, canceled, past_due]}",
     "SELECT count(*) FROM events WHERE status NOT IN ('active', 'canceled', 'past_due')"),
    ("range:events.amount", "range: {table: events, column: amount, min: 0}",
     "SELECT count(*) FROM events WHERE amount < 0"),
    ("pattern:events.email", "pattern: {table: events, column: email, regex: '^[^@]+@[^@]+$'}",
     "SELECT count(*) FROM events WHERE email !~ '^[^@]+@[^@]+$'"),
    ("freshness:events.created_at", "freshness: {table: events, column: created_at, max_age: 400d}",
     "SELECT max(created_at) FROM events"),
]

BUILD = """
CREATE TABLE users (id bigint PRIMARY KEY, email text);
INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 1000) g;
CREATE TABLE events AS
SELECT g::bigint AS id,
       'evt_' || g AS event_id,
       1 + g % 1000 AS user_id,
       (ARRAY['active', 'canceled', 'past_due'])[1 + g % 3] AS status,
       (g % 500)::int AS amount,
       'user' || g || '@example.com' AS email,
       timestamptz '2026-01-01' - make_interval(secs => g) AS created_at
FROM generate_series(1, {rows}) g;
-- planted: 3 duplicate event ids, 5 orphans, 7 NULL emails, 4 bad statuses, 6 negative amounts,
-- 2 malformed emails
UPDATE events SET event_id = 'evt_1' WHERE id IN (11, 12, 13);
UPDATE events SET user_id = 5000 + id WHERE id BETWEEN 21 AND 25;
UPDATE events SET email = NULL WHERE id BETWEEN 31 AND 37;
UPDATE events SET status = 'bogus' WHERE id BETWEEN 41 AND 44;
UPDATE events SET amount = -1 WHERE id BETWEEN 51 AND 56;
UPDATE events SET email = 'not-an-email' WHERE id IN (61, 62);
"""
# what an operator types next to see the failing rows (the seed's duplicate query included)
LISTINGS = [
    "SELECT event_id, count(*) FROM events GROUP BY event_id HAVING count(*) > 1 LIMIT 5",
    "SELECT e.* FROM events e WHERE e.user_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id) LIMIT 5",
    "SELECT * FROM events WHERE email IS NULL LIMIT 5",
    "SELECT * FROM events WHERE status NOT IN ('active', 'canceled', 'past_due') LIMIT 5",
    "SELECT * FROM events WHERE amount < 0 LIMIT 5",
    "SELECT * FROM events WHERE email !~ '^[^@]+@[^@]+$' LIMIT 5",
]
EXPECTED = {"unique:events.event_id": 3, "references:events.user_id": 5, "not_null:events.email": 7,
            "row_count:events": 0, "accepted_values:events.status": 4, "range:events.amount": 6,
            "pattern:events.email": 2, "freshness:events.created_at": 0}


def handwritten(dsn: str, listings: bool) -> tuple[float, list[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.perf_counter()
        values = [conn.execute(stmt).fetchone()[0] for _, _, stmt in CHECKS]  # type: ignore[index]
        if listings:
            for stmt in LISTINGS:
                conn.execute(stmt).fetchall()
        return time.perf_counter() - start, values


def opsbook_run(dsn: str, cfg_dir: Path, samples: int) -> tuple[float, dict[str, Any]]:
    text = "integrity:\n  bench:\n    checks:\n" + "".join(f"      - {c}\n" for _, c, _ in CHECKS)
    cfg = load_config(cfg_dir / "opsbook.yaml", kinds_info(), text=text)
    start = time.perf_counter()
    result = asyncio.run(run_suite(cfg, "bench", dsn=dsn, samples=samples))
    elapsed = time.perf_counter() - start
    doc = result.to_dict()
    return elapsed, {c["name"]: c for c in doc["checks"]} | {"_queries": doc["queries"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in events (target measured at 10000000)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order; report medians")
    ap.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with scratch_database(args.admin_dsn, "opsbook_bench") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            t0 = time.perf_counter()
            conn.execute(BUILD.replace("{rows}", str(int(args.rows))))  # type: ignore[arg-type]
            conn.execute("VACUUM ANALYZE events")
            conn.execute("VACUUM ANALYZE users")
            build = time.perf_counter() - t0
            conn.execute("SELECT count(*) FROM events")  # warm the cache for whichever runs first
            version = conn.info.server_version
        print(f"PostgreSQL {version // 10000}.{version % 10000}, events: {args.rows:,} rows, "
              f"built in {build:.1f} s (generate_series + planted violations + VACUUM ANALYZE)")
        times: dict[str, list[float]] = {"hand": [], "hand+": [], "ops": [], "ops0": []}
        statements: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for rnd in range(args.rounds):
                order = ["hand", "ops0", "hand+", "ops"]
                for side in order if rnd % 2 == 0 else order[::-1]:
                    if side.startswith("hand"):
                        t, values = handwritten(dsn, listings=side == "hand+")
                        hand_values = dict(zip([n for n, _, _ in CHECKS], values, strict=True))
                    else:
                        t, found = opsbook_run(dsn, Path(tmp), samples=5 if side == "ops" else 0)
                        got = {k: v["violations"] for k, v in found.items() if k != "_queries"}
                        if got != EXPECTED:
                            print(f"MISMATCH opsbook found {got}", file=sys.stderr)
                            return 1
                        statements[side] = found["_queries"]
                    times[side].append(t)
        # the hand-written side counts; compare its counts where they mean the same thing
        for k in ("unique:events.event_id", "not_null:events.email", "accepted_values:events.status",
                  "range:events.amount", "pattern:events.email", "references:events.user_id"):
            assert hand_values[k] == EXPECTED[k], (k, hand_values[k])
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n{'side':<64} {'time':>9} {'ratio':>7}")
        rows = [
            ("hand-written: the 8 counting statements", med["hand"], None),
            (f"opsbook run_suite --samples 0 ({statements['ops0']} statements)", med["ops0"], med["hand"]),
            ("hand-written: the 8 counts + 6 listings with LIMIT 5", med["hand+"], None),
            (f"opsbook run_suite, 5 samples per failing check ({statements['ops']} statements)", med["ops"],
             med["hand+"]),
        ]
        for label, t, base in rows:
            ratio = f"{t / base:>7.2f}" if base else f"{'':>7}"
            print(f"{label:<64} {t:>8.2f}s {ratio}")
        print(f"\nratios: opsbook / the hand-written side doing the same work (counts; counts + samples). "
              f"Target: <= 1.2, measured at 10,000,000 rows. Medians of {args.rounds} round(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
