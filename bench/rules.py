"""Rule evaluation speed: 10,000 alert rules over 24 h of 15-second check results.

    uv run python bench/rules.py                      # 10,000 rules, 200 checks, SQLite
    uv run python bench/rules.py --rules 1000 --checks 50 --cycles 3
    uv run python bench/rules.py --store postgresql://postgres@127.0.0.1:5432/postgres  # a scratch DB is made

What it does:

1. Writes 24 h of results at 15 s intervals for --checks checks (5,760 per check; 200 checks ->
   1.15 M rows) into a fresh store (a temp SQLite file, or a scratch PostgreSQL database that is
   dropped afterwards), with one executemany per check, plus check_state rows. About 2 % of the
   results fail, in bursts, so some rules are pending/firing. 50 backup jobs get a run history.
2. Builds a config of --rules alert rules spread over those checks and jobs, mixing every
   condition family the engine reads from the store:
     check NAME failing (for: 3m)            check NAME failures > N in 5m
     check NAME consecutive_failures >= N    check NAME duration > Xms
     check NAME failure_ratio > R in 1h      job backup NAME last_success_age > 26h
3. Runs --cycles evaluations at "now" = the end of the data, 15 s apart (the first one creates
   the state rows), and prints per-cycle time (median, max), peak memory of the evaluation
   (tracemalloc) and process max RSS, against the 1 s target.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _pg import scratch_database  # bench/ is on sys.path when a bench runs

from opsbook.config.load import load_config
from opsbook.ops.load import kinds_info
from opsbook.rules.engine import evaluate
from opsbook.store import Store

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=15)


def build_store(store: Store, checks: int, hours: int, jobs: int) -> int:
    db = store.db
    rng = random.Random(7)
    n = hours * 3600 // 15
    start = END - STEP * n
    stamps = [db.ts(start + STEP * (i + 1)) for i in range(n)]
    result = db.json({"observations": {}})
    total = 0
    for c in range(checks):
        name = f"check-{c:04d}"
        rows = []
        burst = 0
        for i in range(n):
            if burst == 0 and rng.random() < 0.002:
                burst = rng.randint(2, 20)
            bad = burst > 0
            burst = max(burst - 1, 0)
            status = "fail" if bad else "pass"
            rows.append((name, "", "http", status, not bad, rng.uniform(5, 400), status, stamps[i], stamps[i], result))
        with db.transaction() as tx:
            tx.execute_many("INSERT INTO check_results (check_name, env, kind, status, ok, duration_ms, summary, "
                            "started_at, finished_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            tx.execute("INSERT INTO check_state (check_name, env, status, since, updated_at) VALUES (?, '', ?, ?, ?)",
                       (name, rows[-1][3], stamps[-1], stamps[-1]))
        total += len(rows)
    with db.transaction() as tx:
        runs = []
        for j in range(jobs):
            for d in range(3):
                at = END - timedelta(hours=24 * d + j % 30)
                runs.append(("backup", f"job-{j:03d}", "", "pass", True, db.ts(at), db.ts(at), None, None))
        tx.execute_many("INSERT INTO runs (kind, name, env, status, ok, started_at, finished_at, detail, error) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
    return total


def build_config(path: Path, rules: int, checks: int, jobs: int) -> None:
    lines = ["checks:"]
    lines += [f"  check-{c:04d}: {{command: {{run: 'true'}}}}" for c in range(checks)]
    # the job rules name backups: they must exist (the config is validated); never run here
    lines += ["resources:", "  db: {kind: sqlite, path: app.db}", "backups:"]
    lines += [f"  job-{j:03d}: {{source: db, path: ./backups}}" for j in range(jobs)]
    lines.append("alerts:")
    for r in range(rules):
        c = f"check-{r % checks:04d}"
        family = (r // checks) % 6
        if family == 0:
            when, extra = f"check {c} failing", ", for: 3m"
        elif family == 1:
            when, extra = f"check {c} failures > {1 + r % 7} in 5m", ""
        elif family == 2:
            when, extra = f"check {c} consecutive_failures >= {2 + r % 3}", ""
        elif family == 3:
            when, extra = f"check {c} duration > {300 + r % 100}ms", ", for: 1m"
        elif family == 4:
            when, extra = f"check {c} failure_ratio > 0.0{1 + r % 5} in 1h", ", recover_below: 0.005"
        else:
            when, extra = f"job backup job-{r % jobs:03d} last_success_age > 26h", ""
        lines.append(f"  rule-{r:05d}: {{when: \"{when}\", severity: page{extra}}}")
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--store", default=None, help="a PostgreSQL admin DSN: bench in a scratch database there")
    args = ap.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbook-bench-rules-")))
        url = stack.enter_context(scratch_database(args.store)) if args.store else f"sqlite:///{work / 'bench.db'}"
        store = Store.open(url)
        stack.callback(store.close)
        t = time.perf_counter()
        if store.dialect == "sqlite":  # a big page cache for the build only; evaluation runs with the default
            store.db._connect_sqlite().execute("PRAGMA cache_size=-262144")
        rows = build_store(store, args.checks, args.hours, args.jobs)
        if store.dialect == "sqlite":
            store.db._connect_sqlite().execute("PRAGMA cache_size=-2000")
        print(f"store: {store.dialect}, {rows:,} check results for {args.checks} checks "
              f"({args.hours} h at 15 s) + {args.jobs * 3} job runs, built in {time.perf_counter() - t:.1f} s")
        build_config(work / "opsbook.yaml", args.rules, args.checks, args.jobs)
        t = time.perf_counter()
        cfg = load_config(work / "opsbook.yaml", kinds_info())
        print(f"config: {len(cfg.model.alerts):,} rules, loaded and validated in {time.perf_counter() - t:.1f} s")
        times, peaks = [], []
        for i in range(args.cycles):
            now = END + STEP * i
            tracemalloc.start()
            t = time.perf_counter()
            ev = evaluate(cfg, store, now)
            times.append(time.perf_counter() - t)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            firing = sum(a.state == "firing" for a in ev.alerts)
            pending = sum(a.state == "pending" for a in ev.alerts)
            print(f"  cycle {i + 1}: {times[-1] * 1000:7.0f} ms  firing {firing:5d}  pending {pending:5d}  "
                  f"transitions {len(ev.transitions):5d}  errors {len(ev.errors)}")
        # tracemalloc slows Python down; time the steady-state cycles once more without it
        clean = []
        for i in range(args.cycles):
            t = time.perf_counter()
            evaluate(cfg, store, END + STEP * (args.cycles + i))
            clean.append(time.perf_counter() - t)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        steady = clean
        print()
        print(f"{'':32}{'median':>10}{'max':>10}")
        print(f"{'cycle time (no tracemalloc)':32}{statistics.median(steady) * 1000:>8.0f}ms"
              f"{max(steady) * 1000:>8.0f}ms")
        print(f"{'cycle time (under tracemalloc)':32}{statistics.median(times) * 1000:>8.0f}ms"
              f"{max(times) * 1000:>8.0f}ms")
        print(f"{'peak Python memory per cycle':32}{statistics.median(peaks) / 2**20:>8.1f}MB"
              f"{max(peaks) / 2**20:>8.1f}MB")
        print(f"{'process max RSS':32}{rss:>8.0f}MB")
        ok = max(steady) < 1.0
        print(f"target: < 1 s per cycle -> {'met' if ok else 'NOT met'} (worst steady cycle "
              f"{max(steady) * 1000:.0f} ms)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
