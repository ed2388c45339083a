"""Incident speed: timeline assembly, the incident page and the post-mortem of an incident whose
window holds 10,000 timeline events, on SQLite and on PostgreSQL.

    uv run python bench/incidents.py                       # both dialects, 10,000 events, 30 repetitions
    uv run python bench/incidents.py --dialects sqlite --reps 50
    uv run python bench/incidents.py --store postgresql://postgres@127.0.0.1:5432/postgres  # admin DSN

1. Builds a fresh store (a temp SQLite file; a scratch PostgreSQL database ``opsbook_bench_<hex>``
   created on ``--store`` and dropped at the end, also on Ctrl-C) through the store's own write
   functions: check results every 15 s for 30 checks across the window (their status changes are
   the check flips, each linked to the result that failed), alert transitions, notifications in
   the outbox (queued, then delivered or failed), job runs, silences, incident notes; plus
   ``--history-hours`` of the same kinds of rows before the window, so the time-range reads have
   to skip rows, as in a store that has been running for a while. The incident is declared 2 h
   before the end, resolved at the end; its window (15 minutes of lead-in) holds ~10,000 entries.
2. Times ``ops.timeline.for_incident`` ``--reps`` times (p50 / p95 / max).
3. Starts the real app (``create_app``) under uvicorn in a child process on a free 127.0.0.1 port,
   logs in with an operator token through /login, and GETs ``/incidents/{id}`` ``--reps`` times
   one at a time over one keep-alive connection (p50 / p95; the first request is a warm-up).
4. Times ``ops.postmortem.build`` plus ``render.postmortem.markdown`` (the CLI's path).

Prints the row counts per source (stored, in the window, and timeline entries per kind), the
figures and the targets (timeline and page p95 < 100 ms, post-mortem < 1 s) with PASS/FAIL; exit
1 when a target fails.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _pg import scratch_database  # bench/ is on sys.path when a bench runs
from _serve import wait_until_up

TOKEN = "bench-operator-token-0123456789"
CONFIG = """project: bench
api:
  tokens:
    oncall: {token: {env: OPSBOOK_BENCH_TOKEN}, role: operator}
"""
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHECKS = 30
TARGET_MS = 100.0
TARGET_PM_S = 1.0


def q(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def build(url: str, hours: float, history_hours: float) -> tuple[int, dict[str, int], float]:
    """The store and the incident; returns (incident id, stored rows per table, build seconds)."""
    from opsbook.config.assertions import Outcome
    from opsbook.config.incidents import Incidents
    from opsbook.ops import incident
    from opsbook.results import CheckResult
    from opsbook.store import Store, alerts, outbox, silences

    t0 = time.perf_counter()
    rnd = random.Random(12)
    store = Store.open(url)
    end = NOW - timedelta(minutes=1)
    detected = end - timedelta(hours=hours)
    begin = detected - timedelta(hours=history_hours)  # history before the window (and its lead-in)

    # check results every 15 s; each check fails in bursts, so about one result in five flips it
    results: list[CheckResult] = []
    steps = int((end - begin).total_seconds() // 15)
    bad = [False] * CHECKS
    for k in range(steps):
        at = begin + timedelta(seconds=15 * k)
        for c in range(CHECKS):
            if rnd.random() < 0.2:
                bad[c] = not bad[c]
            fail = bad[c]
            results.append(CheckResult(
                name=f"c{c:02d}", kind="http", status="fail" if fail else "pass",
                summary="GET -> 502" if fail else "GET -> 200", started_at=at - timedelta(milliseconds=40),
                finished_at=at, duration_ms=40.0, env="", observations={"status": 502 if fail else 200},
                assertions=[Outcome("status == 200", not fail, 502 if fail else 200, "== 200")]))
        if len(results) >= 3000:
            store.record_results(results)
            results = []
    store.record_results(results)

    # alert transitions: 18 a minute (pending/firing/resolved of 40 rules)
    states = ("pending", "firing", "inactive")
    minutes = int((end - begin).total_seconds() // 60)
    with store.transaction() as tx:
        for m in range(minutes):
            at = begin + timedelta(minutes=m, seconds=30)
            rows = [(f"fp{r}", f"rule{r:02d}", states[(m + r) % 3], states[(m + r + 1) % 3], 0.5 + r, "above")
                    for r in rnd.sample(range(40), 18)]
            alerts.add_transitions(tx, "", at, rows)

    # notifications: 11 a minute, queued then delivered 2 s later (one in ten failed instead)
    with store.transaction() as tx:
        n = 0
        for m in range(minutes):
            for j in range(11):
                at = begin + timedelta(minutes=m, seconds=5 * j)
                n += 1
                receiver = f"team{n % 5}"
                outbox.enqueue(tx, dedup_key=f"n{n}", group_key=f"g{n % 40}", receiver=receiver, kind="firing",
                               payload={"title": f"rule{n % 40:02d} firing"}, now=at)
                row = outbox.rows(tx, status=outbox.PENDING, limit=1, receiver=receiver)[0]
                outbox.claim(tx, row.id, "bench", at, 60)
                if n % 10:
                    outbox.delivered(tx, row, "bench", {"status": 200}, at + timedelta(seconds=2))
                else:
                    outbox.failed(tx, row, "bench", {"message": "connection refused"}, at + timedelta(seconds=2),
                                  None)
        # silences (one an hour)
        for h in range(int((end - begin).total_seconds() // 3600)):
            at = begin + timedelta(hours=h, minutes=7)
            silences.insert(tx, silences.SilenceRow(secrets.token_hex(8), [{"name": "rule", "value": "rule01"}],
                                                    "ana", "deploy", at, at + timedelta(minutes=20), at, None))

    for m in range(0, minutes, 10):  # job runs, one every 10 minutes
        at = begin + timedelta(minutes=m)
        store.record_run("backup", f"db{m % 3}", ok=True, status="ok", started_at=at,
                         finished_at=at + timedelta(seconds=30), detail=None, env="")
    inc = incident.declare(store, Incidents(), "Checkout returns 502", "SEV2", "ana", detected + timedelta(minutes=2),
                           detected_at=detected, components=["api"])
    # the notes: one every 5.5 s across the window, each its own transaction as the CLI writes them
    for k in range(int(hours * 3600 / 5.5)):
        incident.note(store, inc.id, f"tried fix {k}", "bob", detected + timedelta(seconds=5.5 * k + 3))
    incident.move(store, inc.id, "resolved", "bob", end)
    counts = store.table_counts()
    store.close()
    if url.startswith("postgresql"):
        # what autovacuum does on a live store a minute after a bulk load: without statistics the
        # planner takes the freshly filled tables for empty ones
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    return inc.id, counts, time.perf_counter() - t0


def serve(config: str, store_url: str, port: int) -> None:
    """The child process: the real app on 127.0.0.1."""
    import uvicorn

    from opsbook.ops.load import load
    from opsbook.store import Store
    from opsbook.web.app import create_app
    from opsbook.web.context import WebContext

    cfg = load(config)
    store = Store.open(store_url)
    app = create_app(WebContext(get_config=lambda: cfg, store=store))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class Server:
    def __init__(self, cfg_path: Path, store_url: str) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPSBOOK_BENCH_TOKEN": TOKEN}
        self.child = subprocess.Popen([sys.executable, __file__, "--serve", str(cfg_path), store_url,
                                       str(self.port)], env=env)

    def wait(self) -> None:
        wait_until_up(self.base + "/login", self.child)

    def stop(self) -> None:
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


def page_times(server: Server, path: str, reps: int) -> tuple[list[float], int, str]:
    import httpx

    with httpx.Client(base_url=server.base, timeout=60) as c:
        page = c.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "/"})
        if r.status_code != 303:
            raise RuntimeError(f"login failed: {r.status_code}")
        first = c.get(path)  # warm-up: templates compiled, connections opened
        first.raise_for_status()
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            r = c.get(path)
            out.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        return out, len(r.content), r.text


def measure(name: str, url: str, cfg_path: Path, args: argparse.Namespace) -> bool:
    from opsbook.ops import incident, postmortem, timeline
    from opsbook.ops.load import load
    from opsbook.render import postmortem as render
    from opsbook.store import Store

    iid, counts, took = build(url, args.hours, args.history_hours)
    print(f"\n== {name}: store built in {took:.1f} s; incident #{iid}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print("stored rows: " + ", ".join(f"{t} {counts[t]:,}" for t in ("check_results", "check_flips",
                                                                   "alert_transitions", "notify_outbox", "runs",
                                                                   "notify_silences", "incident_events")))
    cfg = load(str(cfg_path))
    store = Store.open(url)
    ok = True
    try:
        row = incident.show(store, iid).row
        now = datetime.now(UTC)
        tl = timeline.for_incident(store, row, now)
        kinds = Counter(e.kind.split(".")[0] for e in tl.entries)
        print(f"timeline window {tl.start:%H:%M} to {tl.end:%H:%M}: {len(tl.entries):,} entries "
              f"({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}), truncated: {tl.truncated}")
        times, cpu = [], []
        for _ in range(args.reps):
            t, c = time.perf_counter(), time.process_time()
            timeline.for_incident(store, row, now)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        p95 = q(times, 0.95)
        ok &= report(f"timeline assembly ({len(tl.entries):,} entries), {args.reps} reps",
                     f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms "
                     f"(this process's CPU: p50 {statistics.median(cpu):.1f} ms, p95 {q(cpu, 0.95):.1f} ms)",
                     p95 < TARGET_MS, f"p95 < {TARGET_MS:g} ms")
        page = timeline.page(store, iid, now, 200, 50)
        t = time.perf_counter()
        for _ in range(args.reps):
            timeline.page(store, iid, now, 200, 50)
        print(f"  (the page's read: the newest {len(page.timeline.entries)} entries and 50 events: "
              f"{(time.perf_counter() - t) * 1000 / args.reps:.1f} ms mean)")

        server = Server(cfg_path, url)
        try:
            server.wait()
            ptimes, size, html = page_times(server, f"/incidents/{iid}", args.reps)
            full = page_times(server, f"/incidents/{iid}?limit={timeline.MAX_ROWS}", max(3, args.reps // 5))
        finally:
            server.stop()
        shown = html.count("<tr data-kind=")
        p95 = q(ptimes, 0.95)
        ok &= report(f"GET /incidents/{iid} ({shown:,} newest timeline rows shown, {size / 1024:.0f} KiB), "
                     f"{args.reps} reps", f"p50 {statistics.median(ptimes):.1f} ms, p95 {p95:.1f} ms, "
                     f"max {max(ptimes):.1f} ms", p95 < TARGET_MS, f"p95 < {TARGET_MS:g} ms")
        print(f"  (for reference, not a target) GET ?limit={timeline.MAX_ROWS} "
              f"({full[2].count('<tr data-kind='):,} rows, {full[1] / 1024:.0f} KiB): "
              f"median {statistics.median(full[0]):.0f} ms, max {max(full[0]):.0f} ms")

        pm = []
        for _ in range(max(3, args.reps // 10)):
            t = time.perf_counter()
            doc = postmortem.build(cfg, store, iid, now).to_dict()
            md = render.markdown(doc)
            pm.append(time.perf_counter() - t)
        worst = max(pm)
        ok &= report(f"post-mortem build + Markdown ({len(md) / 1024:.0f} KiB, {len(pm)} runs)",
                     f"median {statistics.median(pm) * 1000:.0f} ms, max {worst * 1000:.0f} ms",
                     worst < TARGET_PM_S, f"max < {TARGET_PM_S:g} s")
    finally:
        store.close()
    return ok


def report(what: str, figures: str, passed: bool, target: str) -> bool:
    print(f"  {what}: {figures}  [{'PASS' if passed else 'FAIL'}: {target}]")
    return passed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialects", default="sqlite,postgresql")
    ap.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="a PostgreSQL admin DSN: the bench creates and drops a scratch database there")
    ap.add_argument("--hours", type=float, default=2.0, help="the incident's length (2 h: ~10,000 entries)")
    ap.add_argument("--history-hours", type=float, default=6.0, help="rows before the window")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--serve", nargs=3, metavar=("CONFIG", "STORE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0
    os.environ["OPSBOOK_BENCH_TOKEN"] = TOKEN
    ok = True
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbook-bench-incidents-")))
        cfg_path = work / "opsbook.yml"
        cfg_path.write_text(CONFIG)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the ExitStack drops the scratch database
        for dialect in args.dialects.split(","):
            if dialect == "sqlite":
                ok &= measure("SQLite", f"sqlite:///{work / 'bench.db'}", cfg_path, args)
                continue
            ok &= measure("PostgreSQL", stack.enter_context(scratch_database(args.store)), cfg_path, args)
    print(f"\n{'all targets met' if ok else 'a target FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
