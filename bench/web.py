"""Dashboard speed under load: the overview page with 1,000 checks and 30 days of history.

    uv run python bench/web.py [--checks 1000] [--days 30] [--concurrency 8] [--seconds 10]
    uv run python bench/web.py --bound      # rows and bytes for 1,000 checks every 15 s, kept a year

1. Builds a temp SQLite store the way ``rollup_and_prune`` leaves it under the default retention:
   day rollups for ``--days``, hour rollups for ``--days``, minute rollups for the last 6 hours,
   raw results for the last 2 minutes (written through ``Store.record_results``), watermarks set.
   About 5% of checks fail now, a few had bad days.
2. Starts ``opsbook.web.app.create_app`` under uvicorn in a child process on a free 127.0.0.1 port.
3. A local asyncio load generator (httpx, ``--concurrency`` keep-alive connections, ``--seconds``
   per target) requests the overview (logged in), /status, /api/v1/checks, and a trivial
   Starlette "hello" route in the same server process as the floor. Prints requests/s and
   p50/p95/p99 per target against the 100 ms p95 target. Removes the child and the temp files.

``--bound`` measures bytes per row of each table on a sample store and multiplies by the row
counts the default retention keeps for 1,000 checks every 15 s (docs/history.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOKEN = "bench-viewer-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, checks: int) -> None:
    lines = ["project: bench", "checks:"]
    for i in range(checks):
        lines.append(f"  c{i:04d}: {{http: {{url: 'http://127.0.0.1:9/ep/{i}'}}, labels: {{team: t{i % 7}}}}}")
    lines += ["api:", "  tokens:", "    viewer: {token: {env: OPSBOOK_BENCH_TOKEN}, role: viewer}",
              "status_page:", "  title: Bench", "  components:"]
    for g in range(10):
        lines.append(f"    - {{name: Service {g}, checks: [{', '.join(f'c{i:04d}' for i in range(g, checks, 100))}]}}")
    path.write_text("\n".join(lines) + "\n")


def build_store(url: str, checks: int, days: int, now: datetime) -> dict[str, Any]:
    from opsbook.config.assertions import Outcome
    from opsbook.results import CheckResult
    from opsbook.store import Store, rollup

    t0 = time.perf_counter()
    store = Store.open(url)
    db = store.db
    rnd = random.Random(7)
    failing = {f"c{i:04d}" for i in rnd.sample(range(checks), checks // 20)}
    marks = ", ".join("?" for _ in range(4 + 10 + rollup.NHIST))
    sql = f"INSERT INTO check_rollups (level, check_name, env, bucket, {rollup._COLS}) VALUES ({marks})"

    def rows(level: str, start: datetime, n_buckets: int, per_bucket: int) -> list[tuple[Any, ...]]:
        out = []
        step = rollup.STEP[level]
        for b in range(n_buckets):
            bucket = start + step * b
            for i in range(checks):
                name = f"c{i:04d}"
                bad = (rnd.random() < 0.002) * per_bucket // 3
                hist = [0] * rollup.NHIST
                hist[3] = per_bucket - per_bucket // 10
                hist[4] = per_bucket // 10
                out.append((level, name, "", db.ts(bucket), per_bucket, per_bucket - bad, per_bucket - bad, 0, bad, 0,
                            0, per_bucket * 40.0, 20.0, 95.0, *hist))
        return out

    day0 = rollup.floor(now, "day") - timedelta(days=days)
    hour0 = rollup.floor(now, "hour") - timedelta(days=days)
    min0 = rollup.floor(now, "minute") - timedelta(hours=6)
    counts = {}
    for level, start, n, per in (("day", day0, days, 5760), ("hour", hour0, days * 24, 240),
                                 ("minute", min0, 6 * 60 - 2, 4)):
        batch = rows(level, start, n, per)
        counts[level] = len(batch)
        for i in range(0, len(batch), 20_000):
            with db.transaction() as tx:
                tx.execute_many(sql, batch[i:i + 20_000])
    with db.transaction() as tx:
        for level, upto in (("day", rollup.floor(now, "day")), ("hour", rollup.floor(now, "hour")),
                            ("minute", rollup.floor(now, "minute") - timedelta(minutes=2))):
            tx.execute("INSERT INTO rollup_watermarks (level, upto) VALUES (?, ?)", (level, db.ts(upto)))
    raw = []
    for k in range(8):  # the last 2 minutes, every 15 s
        at = now - timedelta(seconds=15 * (8 - k))
        for i in range(checks):
            name = f"c{i:04d}"
            bad = name in failing and k >= 4
            raw.append(CheckResult(name=name, kind="http", status="fail" if bad else "pass",
                                   summary="GET -> 500" if bad else "GET -> 200", started_at=at, finished_at=at,
                                   duration_ms=40.0 + rnd.random() * 20, env="",
                                   observations={"status": 500 if bad else 200},
                                   assertions=[Outcome("status < 400", not bad, 500 if bad else 200, "< 400")]))
    for i in range(0, len(raw), 1000):
        store.record_results(raw[i:i + 1000])
    counts["raw"] = len(raw)
    store.close()
    return {"rows": counts, "seconds": round(time.perf_counter() - t0, 1)}


def serve(config: str, store_url: str, port: int) -> None:
    """The child process: the real app plus a trivial route as the floor."""
    import uvicorn
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from opsbook import app as opsbook_app
    from opsbook.store import Store
    from opsbook.web.app import create_app
    from opsbook.web.context import WebContext

    cfg = opsbook_app.load(config)
    store = Store.open(store_url)
    app = create_app(WebContext(get_config=lambda: cfg, store=store))
    app.router.routes.append(Route("/hello", lambda r: PlainTextResponse("hello")))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def load(base: str, path: str, concurrency: int, seconds: float, cookies: dict[str, str],
               headers: dict[str, str]) -> dict[str, Any]:
    import httpx

    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, headers=headers, limits=limits, timeout=30) as c:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await c.get(path)
                lat.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - started
    lat.sort()

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    return {"path": path, "n": len(lat), "rps": len(lat) / took, "p50": q(0.5), "p95": q(0.95), "p99": q(0.99),
            "errors": errors}


def bound() -> int:
    """Bytes per row measured on a sample store, times the rows the default retention keeps."""
    from opsbook.config.web import Retention
    from opsbook.store import Store

    ret = Retention()
    with tempfile.TemporaryDirectory() as tmp:
        now = datetime(2026, 11, 23, tzinfo=UTC)
        url = f"sqlite:///{tmp}/sample.db"
        info = build_store(url, 50, 3, now)
        store = Store.open(url)
        with store.db.transaction() as tx:
            per_table = {name: int(size) for name, size in tx.all(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
            n_raw = int((tx.one("SELECT count(*) FROM check_results") or (0,))[0])
            n_roll = int((tx.one("SELECT count(*) FROM check_rollups") or (0,))[0])
        store.close()
    raw_b = (per_table.get("check_results", 0) + per_table.get("ix_check_results_check_time", 0)
             + per_table.get("ix_check_results_finished", 0)) / max(1, n_raw)
    roll_b = sum(v for k, v in per_table.items() if "rollup" in k and "watermark" not in k) / max(1, n_roll)
    checks, per_day = 1000, 86400 // 15
    kept = {
        "raw (24h)": checks * per_day * ret.raw / 86400,
        "minute (2d)": checks * 1440 * ret.minute / 86400,
        "hour (90d)": checks * 24 * ret.hour / 86400,
        "day (730d, 1 year in)": checks * 365,
    }
    print(f"sample: {info['rows']}; bytes/row: raw result {raw_b:.0f} B (minimal http result), rollup {roll_b:.0f} B")
    total = 0.0
    for level, n in kept.items():
        size = n * (raw_b if level.startswith("raw") else roll_b)
        total += size
        print(f"  {level:24} {n:>12,.0f} rows  {size / 1e9:6.2f} GB")
    print(f"  {'total':24} {sum(kept.values()):>12,.0f} rows  {total / 1e9:6.2f} GB (+ failures kept 14 d)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bound", action="store_true", help="print the store-size bound instead")
    ap.add_argument("--serve", nargs=3, metavar=("CONFIG", "STORE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0
    if args.bound:
        return bound()
    import httpx

    with tempfile.TemporaryDirectory(prefix="opsbook-bench-web-") as tmp:
        cfg_path = Path(tmp) / "opsbook.yaml"
        write_config(cfg_path, args.checks)
        store_url = f"sqlite:///{tmp}/store.db"
        now = datetime.now(UTC)
        built = build_store(store_url, args.checks, args.days, now)
        print(f"store: {built['rows']} rows in {built['seconds']} s")
        port = free_port()
        env = {**os.environ, "OPSBOOK_BENCH_TOKEN": TOKEN}
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(cfg_path), store_url, str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/hello", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or child.poll() is not None:
                        print("the server did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.2)
            page = httpx.get(base + "/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = httpx.post(base + "/login", data={"token": TOKEN, "csrf": csrf}, cookies=page.cookies)
            session = dict(r.cookies)
            html = httpx.get(base + "/", cookies=session).text
            assert html.count("<tr data-status") == args.checks, "overview did not list every check"
            print(f"overview page: {len(html) / 1024:.0f} KiB, {args.checks} checks")
            rows = []
            for path, cookies, headers in (("/hello", {}, {}), ("/", session, {}), ("/status", {}, {}),
                                           ("/api/v1/checks", {}, {"Authorization": f"Bearer {TOKEN}"})):
                asyncio.run(load(base, path, 2, 1.0, cookies, headers))  # warm up
                rows.append(asyncio.run(load(base, path, args.concurrency, args.seconds, cookies, headers)))
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    print(textwrap.dedent(f"""
        {args.checks} checks, {args.days} days of history, {args.concurrency} connections, {args.seconds:g} s each
        {'target':22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"""))
    for r in rows:
        print(f"{r['path']:22} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f} {r['errors']:6d}")
    ov = next(r for r in rows if r["path"] == "/")
    print(f"\noverview p95 {ov['p95']:.0f} ms (target < 100 ms): {'OK' if ov['p95'] < 100 else 'MISSED'}")
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
