"""Dashboard speed under load: the overview page with 1,000 checks and 30 days of history.

    uv run python bench/web.py [--checks 1000] [--days 30] [--concurrency 8] [--seconds 10]
    uv run python bench/web.py --generator python   # the built-in generator even when wrk is installed
    uv run python bench/web.py --no-cache           # the load table against a server that caches nothing
    uv run python bench/web.py --bound      # rows and bytes for 1,000 checks every 15 s, kept a year
    uv run python bench/web.py --store postgresql://postgres@127.0.0.1:5432/postgres  # a scratch DB is made

1. Builds a temp SQLite store (or, with ``--store``, a scratch PostgreSQL database that is dropped
   afterwards) the way ``rollup_and_prune`` leaves it under the default retention:
   day rollups for ``--days``, hour rollups for ``--days``, minute rollups for the last 6 hours,
   raw results for the last 2 minutes (written through ``Store.record_results``), watermarks set.
   About 5% of checks fail now, a few had bad days.
2. Starts ``opsbook.web.app.create_app`` under uvicorn in a child process on a free 127.0.0.1 port,
   plus a trivial Starlette "hello" route in the same process: the floor, i.e. what the server
   stack and the load generator cost without any opsbook work.
3. Loads each target for ``--seconds`` over ``--concurrency`` keep-alive connections (closed loop)
   and prints requests/s and p50/p95/p99 against the 100 ms p95 target. The generator is ``wrk``
   (C, one thread) when installed, else a lean asyncio one (raw sockets, keep-alive, no HTTP
   library); it runs on the same machine, so its CPU competes with the server's: compare a row
   with the /hello floor. Rows: /hello, the overview (logged in), the overview with
   ``Accept-Encoding: gzip`` (what browsers send), /status, /api/v1/checks.
4. Cold: a second server with the page cache off (``cache_ttl = 0``: every request reads the store
   and renders): its very first overview (nothing cached anywhere), then 20 requests one at a time
   per page (median and max), then the overview under the same load. The load table's pages are
   rebuilt at most every 5 s (the server's default); these rows show what a rebuild costs.
   Removes the children and the temp files.

``--bound`` measures bytes per row of each table on a sample store and multiplies by the row
counts the default retention keeps for 1,000 checks every 15 s (docs/history.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _pg import scratch_database  # bench/ is on sys.path when a bench runs
from _serve import wait_until_up

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


def serve(config: str, store_url: str, port: int, cache: bool) -> None:
    """The child process: the real app plus a trivial route as the floor."""
    import uvicorn
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from opsbook.ops.load import load
    from opsbook.store import Store
    from opsbook.web.app import create_app
    from opsbook.web.context import WebContext

    cfg = load(config)
    store = Store.open(store_url)
    app = create_app(WebContext(get_config=lambda: cfg, store=store))
    if not cache:
        app.state.web.cache_ttl = 0
    async def hello(request: Any) -> PlainTextResponse:  # async: a sync endpoint would go through a thread
        return PlainTextResponse("hello")

    app.router.routes.append(Route("/hello", hello))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- load generators: closed loop, N keep-alive connections, latency per request -------------------

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK-RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def load_wrk(port: int, path: str, concurrency: int, seconds: float, headers: dict[str, str],
             script: Path) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout
    m = re.search(r"WRK-RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise RuntimeError(f"no result from wrk:\n{out}")
    n, took_us, p50, p95, p99, errors, bad_status = (int(g) for g in m.groups())
    return {"path": path, "n": n, "rps": n / (took_us / 1e6), "p50": p50 / 1000, "p95": p95 / 1000,
            "p99": p99 / 1000, "errors": errors + bad_status}


async def _load_py(port: int, path: str, concurrency: int, seconds: float,
                   headers: dict[str, str]) -> dict[str, Any]:
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    length = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                m = length.search(head)
                if m is None:
                    raise RuntimeError(f"{path}: a response without Content-Length")
                await reader.readexactly(int(m.group(1)))
                lat.append((time.perf_counter() - t) * 1000)
                if head[9:12] != b"200":
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.perf_counter() - started
    lat.sort()
    return {"path": path, "n": len(lat), "rps": len(lat) / took, "p50": _q(lat, 0.5), "p95": _q(lat, 0.95),
            "p99": _q(lat, 0.99), "errors": errors}


def _q(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def load(generator: str, port: int, path: str, concurrency: int, seconds: float, headers: dict[str, str],
         script: Path) -> dict[str, Any]:
    if generator == "wrk":
        return load_wrk(port, path, concurrency, seconds, headers, script)
    return asyncio.run(_load_py(port, path, concurrency, seconds, headers))


def one_at_a_time(base: str, path: str, headers: dict[str, str], n: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        for _ in range(n):
            t = time.perf_counter()
            r = c.get(path)
            out.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return out


class Server:
    """A bench server child on a free port; stopped (SIGTERM, then kill) on exit."""

    def __init__(self, cfg_path: Path, store_url: str, cache: bool) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPSBOOK_BENCH_TOKEN": TOKEN}
        args = [sys.executable, __file__, "--serve", str(cfg_path), store_url, str(self.port)]
        self.child = subprocess.Popen([*args, *([] if cache else ["--no-cache"])], env=env)

    def wait(self) -> None:
        wait_until_up(self.base + "/hello", self.child)

    def login(self) -> dict[str, str]:
        import httpx

        page = httpx.get(self.base + "/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = httpx.post(self.base + "/login", data={"token": TOKEN, "csrf": csrf}, cookies=page.cookies)
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in r.cookies.items())}

    def stop(self) -> None:
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


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
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                    help="auto: wrk when installed, else the built-in asyncio generator")
    ap.add_argument("--no-cache", action="store_true", help="run the load table with the page cache off too")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--bound", action="store_true", help="print the store-size bound instead")
    ap.add_argument("--store", default=None, help="a PostgreSQL admin DSN: bench in a scratch database there")
    ap.add_argument("--serve", nargs=3, metavar=("CONFIG", "STORE", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]), cache=not args.no_cache)
        return 0
    if args.bound:
        return bound()
    import httpx

    # SIGTERM ends the run like Ctrl-C: the servers are stopped and the temp files removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    token = {"Authorization": f"Bearer {TOKEN}"}
    load_avg = os.getloadavg()
    results: dict[str, Any] = {"checks": args.checks, "days": args.days, "concurrency": args.concurrency,
                               "seconds": args.seconds, "generator": generator, "cpus": os.cpu_count(),
                               "loadavg_before": load_avg}
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbook-bench-web-"))
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_SCRIPT)
        cfg_path = Path(tmp) / "opsbook.yaml"
        write_config(cfg_path, args.checks)
        store_url = f"sqlite:///{tmp}/store.db"
        if args.store:
            store_url = stack.enter_context(scratch_database(args.store))
        now = datetime.now(UTC)
        built = build_store(store_url, args.checks, args.days, now)
        print(f"store: {built['rows']} rows in {built['seconds']} s")
        results["store_rows"] = built["rows"]

        def table(server: Server, session: dict[str, str], rows_of: str) -> list[dict[str, Any]]:
            rows = []
            for path, headers in (("/hello", {}), ("/", session), ("/", {**session, "Accept-Encoding": "gzip"}),
                                  ("/status", {}), ("/api/v1/checks", token)):
                load(generator, server.port, path, 2, 1.0, headers, script)  # warm up
                row = load(generator, server.port, path, args.concurrency, args.seconds, headers, script)
                row["label"] = path + (" (gzip)" if "Accept-Encoding" in headers else "")
                rows.append(row)
            results[rows_of] = rows
            return rows

        cached = Server(cfg_path, store_url, cache=True)
        try:
            cached.wait()
            session = cached.login()
            html = httpx.get(cached.base + "/", headers=session).text
            assert html.count("<tr data-status") == args.checks, "overview did not list every check"
            print(f"overview page: {len(html) / 1024:.0f} KiB, {args.checks} checks")
            results["overview_kib"] = round(len(html) / 1024)
            table(cached, session, "cached")
        finally:
            cached.stop()

        cold = Server(cfg_path, store_url, cache=False)
        try:
            cold.wait()
            session = cold.login()
            first = one_at_a_time(cold.base, "/", session, 1)[0]
            results["cold_first_overview_ms"] = first
            singles = {}
            for path, headers in (("/", session), ("/status", {}), ("/api/v1/checks", token)):
                ms = one_at_a_time(cold.base, path, headers, 20)
                singles[path] = {"median": statistics.median(ms), "max": max(ms)}
            results["cold_one_at_a_time"] = singles
            load(generator, cold.port, "/", 2, 1.0, session, script)
            cold_load = load(generator, cold.port, "/", args.concurrency, args.seconds, session, script)
            cold_load["label"] = "/ (no cache)"
            results["cold_load"] = cold_load
            if args.no_cache:
                table(cold, session, "uncached")
        finally:
            cold.stop()
    results["loadavg_after"] = os.getloadavg()

    def show(rows: list[dict[str, Any]]) -> None:
        print(f"{'target':22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for r in rows:
            print(f"{r['label']:22} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} {r['p99']:8.1f} {r['errors']:6d}")

    print(f"\n{args.checks} checks, {args.days} days of history, {args.concurrency} connections, "
          f"{args.seconds:g} s each, generator {generator}, {os.cpu_count()} CPUs, "
          f"load average {load_avg[0]:.1f} before / {results['loadavg_after'][0]:.1f} after")
    print("pages cached (rebuilt at most every 5 s; the default):")
    show(results["cached"])
    if args.no_cache:
        print("page cache off (every request reads the store and renders):")
        show(results["uncached"])
    print(f"\ncold (page cache off): first overview after start {first:.0f} ms (nothing cached anywhere); "
          "one at a time, median / max of 20:")
    for path, v in singles.items():
        print(f"  {path:20} {v['median']:7.1f} / {v['max']:7.1f} ms")
    show([cold_load])
    ov = next(r for r in results["cached"] if r["label"] == "/")
    print(f"\noverview p95 {ov['p95']:.0f} ms (target < 100 ms): {'OK' if ov['p95'] < 100 else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    rows = results["cached"] + results.get("uncached", []) + [cold_load]
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
