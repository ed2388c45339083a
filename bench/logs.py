"""Log query speed: `opsbook logs query` vs jq, a json.loads loop and ripgrep, side by side in one run.

    uv run python bench/logs.py                  # a 1 GB JSON-lines log
    uv run python bench/logs.py --size 200MB     # quicker
    uv run python bench/logs.py --size 200MB --workers 1

What it does:

1. Generates a JSON-lines log of --size bytes in a temp directory (deleted afterwards, also on
   Ctrl-C / SIGTERM): ~380-byte lines over the last 20 hours with realistic fields (ts, level,
   msg, service, host, request_id, trace_id, method, path (the route), url, status, duration_ms,
   bytes, ip,
   user_agent, user_id); 5 % are errors with an error_type. Reads it once so every row starts
   from the page cache.
2. Runs, each as a child process timed from outside (wall seconds, max RSS of the process tree):
   - count by error_type over the errors: `opsbook logs query --where "level == 'error'"
     --count-by error_type` vs `jq -n 'reduce (inputs | select(.level == "error") | .error_type)
     ...'` (Debian's jq) vs a plain Python loop of json.loads over the lines;
   - one request id: `opsbook logs query --request-id ID` (parsed lines, in time order) vs
     `rg -F ID` (raw lines);
   - p95 of duration_ms by path: `opsbook logs query --p95 duration_ms --by path` vs
     `jq -r '[.path, .duration_ms] | @tsv' | sort | awk` (nearest rank, as opsbook computes it).
3. Checks that the answers agree, prints seconds, ratios (peer seconds / opsbook seconds) and RSS
   against the targets: count-by >= 5x jq and >= 5x json.loads, request id >= 0.5x rg, p95 >= 5x
   jq, RSS < 300 MB. A peer whose binary is missing is skipped with how to install it.

The opsbook rows are the whole command (interpreter start, imports, config load: ~0.5 s), and
the query's own time from its JSON document is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsbook.durations import parse_size

PATHS = ["/api/users/{id}", "/api/orders", "/api/orders/{id}", "/api/search", "/api/login", "/health",
         "/api/cart", "/api/checkout", "/api/products/{id}", "/static/app.js"]
ERRORS = ["DbTimeout", "Upstream503", "ValidationError", "AuthExpired", "PoolExhausted", "RateLimited"]
AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Safari/605.1.15",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36", "okhttp/4.12.0",
          "python-httpx/0.27.0"]
TIMEOUT = 3600  # seconds any one row may take


def generate(path: Path, size: int, seed: int = 7) -> tuple[int, str]:
    """Write ~size bytes of JSON lines; return the line count and a request id from the middle."""
    rng = random.Random(seed)
    lines_est = size // 380
    start = time.time() - 20 * 3600
    step = 20 * 3600 / max(lines_est, 1)
    written = n = 0
    target = ""
    buf: list[str] = []
    with path.open("w") as f:
        while written < size:
            t = start + n * step
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
            rid = f"{rng.getrandbits(64):016x}-{n:08x}"
            if n == lines_est // 2:
                target = rid
            route = rng.choice(PATHS)  # path: the route; url: with the id filled in
            url = route.replace("{id}", str(rng.randrange(1, 99999)))
            dur = round(rng.lognormvariate(3.8, 0.9), 2)
            common = (f'"ts":"{ts}","service":"api","env":"production","host":"api-{n % 6}",'
                      f'"request_id":"{rid}","trace_id":"{rng.getrandbits(96):024x}","method":"'
                      f'{"POST" if n % 7 == 0 else "GET"}","path":"{route}","url":"{url}",')
            tail = (f'"duration_ms":{dur},"bytes":{rng.randrange(200, 90000)},"ip":"10.{n % 250}.{n % 199}.'
                    f'{n % 97}","user_agent":"{rng.choice(AGENTS)}","user_id":{rng.randrange(1, 500000)}')
            if rng.random() < 0.05:
                et = rng.choice(ERRORS)
                line = ('{"level":"error",' + common + f'"status":{500 if et != "ValidationError" else 422},'
                        + tail + f',"error_type":"{et}","msg":"request failed: {et}"}}')
            else:
                line = '{"level":"info",' + common + '"status":200,' + tail + ',"msg":"request completed"}'
            buf.append(line)
            n += 1
            if len(buf) >= 10000:
                chunk = "\n".join(buf) + "\n"
                f.write(chunk)
                written += len(chunk)
                buf.clear()
        if buf:
            f.write("\n".join(buf) + "\n")
    return n, target


@dataclass
class Row:
    task: str
    tool: str
    seconds: float | None = None
    rss_mb: float | None = None
    inner: float | None = None  # the query's own seconds (opsbook)
    out: str = ""
    skipped: str = ""


def timed(cmd: list[str] | str, cwd: Path, shell: bool = False) -> tuple[float, float, str]:
    """Run a child; its wall seconds, the max RSS of its process tree (MB) and its stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, shell=shell, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise SystemExit(f"timed out after {TIMEOUT}s: {cmd}")
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {cmd}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text


LOADS_LOOP = """
import json, sys
counts = {}
with open(sys.argv[1], "rb") as f:
    for line in f:
        d = json.loads(line)
        if d.get("level") == "error":
            k = d.get("error_type")
            counts[k] = counts.get(k, 0) + 1
print(json.dumps(counts))
"""

P95_AWK = (r"""awk -F'\t' 'function flush() { if (n) { i = int(n * 0.95); if (i < n * 0.95) i++; """
           r"""print g "\t" v[i] } } $1 != g { flush(); g = $1; n = 0 } { v[++n] = $2 } END { flush() }'""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1GB", help="log size (default 1GB; e.g. 200MB)")
    ap.add_argument("--workers", type=int, default=0, help="opsbook --workers (default: one per CPU)")
    ap.add_argument("--log", type=Path, default=None,
                    help="use this log (made by an earlier run with --keep) instead of generating one")
    ap.add_argument("--keep", type=Path, default=None, help="also copy the generated log here, for --log")
    args = ap.parse_args()
    size = parse_size(args.size)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds the temp directory
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-logs-") as tmp:
        d = Path(tmp)
        log = d / "api.log"
        t0 = time.perf_counter()
        if args.log:
            os.symlink(args.log.resolve(), log)
            rid = json.loads(args.log.with_suffix(".json").read_text())["request_id"]
            n = -1
        else:
            n, rid = generate(log, size)
            if args.keep:
                shutil.copyfile(log, args.keep)
                args.keep.with_suffix(".json").write_text(json.dumps({"request_id": rid}))
        print(f"log {log.stat().st_size / 1e6:,.0f} MB, {n:,} lines, made in {time.perf_counter() - t0:.1f} s; "
              f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}", flush=True)
        with log.open("rb") as f:  # into the page cache: every row reads from memory
            while f.read(16 << 20):
                pass
        (d / "opsbook.yaml").write_text("logs:\n  sources:\n    api: {path: api.log}\n")
        rows = run_rows(d, rid, args.workers)
    return report(rows)


def opsbook(d: Path, workers: int, *query: str) -> tuple[float, float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "opsbook", "logs", "query", "-c", str(d / "opsbook.yaml"), "--source", "api",
           "--since", "48h", "--json", "--workers", str(workers), *query]
    wall, rss, out = timed(cmd, d)
    return wall, rss, json.loads(out)


def run_rows(d: Path, rid: str, workers: int) -> list[Row]:
    rows: list[Row] = []
    jq, rg = shutil.which("jq"), shutil.which("rg")
    log = str(d / "api.log")

    def say(r: Row) -> None:
        rows.append(r)
        if r.skipped:
            print(f"  {r.task:<22} {r.tool:<28} skipped: {r.skipped}", flush=True)
        else:
            print(f"  {r.task:<22} {r.tool:<28} {r.seconds:8.2f} s  {r.rss_mb:7.0f} MB", flush=True)

    # 1. count by error_type over the errors
    wall, rss, doc = opsbook(d, workers, "--where", "level == 'error'", "--count-by", "error_type", "--top", "20")
    mine = {x["value"]: x["count"] for x in doc["count_by"]["top"]}
    say(Row("count-by error_type", "opsbook logs query", wall, rss, doc["seconds"]))
    if jq:
        wall, rss, out = timed([jq, "-c", "-n", 'reduce (inputs | select(.level == "error") | .error_type) as $t '
                                "({}; .[$t] += 1)", log], d)
        assert json.loads(out) == mine, (out, mine)
        say(Row("count-by error_type", "jq", wall, rss))
    else:
        say(Row("count-by error_type", "jq", skipped="jq not found: apt-get install jq"))
    wall, rss, out = timed([sys.executable, "-c", LOADS_LOOP, log], d)
    assert json.loads(out) == mine, (out, mine)
    say(Row("count-by error_type", "python json.loads loop", wall, rss))

    # 2. one request id
    wall, rss, doc = opsbook(d, workers, "--request-id", rid)
    assert doc["matched"] == 1 and rid in doc["matching_lines"][0]["line"], doc
    say(Row("request id", "opsbook logs query", wall, rss, doc["seconds"]))
    if rg:
        wall, rss, out = timed([rg, "-F", rid, log], d)
        assert out.count("\n") == 1
        say(Row("request id", "rg -F", wall, rss))
    else:
        say(Row("request id", "rg -F", skipped="rg not found: apt-get install ripgrep"))

    # 3. p95 of duration_ms by path
    wall, rss, doc = opsbook(d, workers, "--p95", "duration_ms", "--by", "path", "--top", "100")
    mine95 = {g["group"]: g["p95"] for g in doc["percentiles"]["groups"]}
    say(Row("p95 duration_ms by path", "opsbook logs query", wall, rss, doc["seconds"]))
    if jq:
        pipe = (f"{jq} -r '[.path, .duration_ms] | @tsv' {log} | LC_ALL=C sort -t \"$(printf '\\t')\" "
                f"-k1,1 -k2,2g -S 200M | {P95_AWK}")
        wall, rss, out = timed(pipe, d, shell=True)
        theirs = {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in out.splitlines() if ln}
        assert theirs == mine95, (theirs, mine95)
        say(Row("p95 duration_ms by path", "jq | sort | awk", wall, rss))
    else:
        say(Row("p95 duration_ms by path", "jq | sort | awk", skipped="jq not found: apt-get install jq"))
    return rows


TARGETS = {("count-by error_type", "jq"): 5.0, ("count-by error_type", "python json.loads loop"): 5.0,
           ("request id", "rg -F"): 0.5, ("p95 duration_ms by path", "jq | sort | awk"): 5.0}


def report(rows: list[Row]) -> int:
    """The table. Ratios: peer wall seconds / opsbook wall seconds (the whole command, start-up
    included), and / the query's own seconds. A target is met when the whole command meets it;
    "query only" when only the query does (a 0.2 s query behind ~1 s of interpreter start-up)."""
    ok = True
    print("\n| task | tool | wall s | query s | max RSS MB | peer / opsbook (command) | peer / opsbook (query) "
          "| target |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    mine = {r.task: r for r in rows if r.tool == "opsbook logs query"}
    for r in rows:
        if r.skipped:
            print(f"| {r.task} | {r.tool} | skipped: {r.skipped} | | | | | |")
            continue
        ratio = qratio = target = ""
        if r.tool != "opsbook logs query":
            me = mine[r.task]
            assert r.seconds is not None and me.seconds is not None
            x = r.seconds / max(me.seconds, 1e-9)
            xq = r.seconds / max(me.inner or me.seconds, 1e-9)
            ratio, qratio = f"{x:.2f}x", f"{xq:.2f}x"
            want = TARGETS.get((r.task, r.tool))
            if want is not None:
                verdict = "met" if x >= want else ("met (query only)" if xq >= want else "MISSED")
                ok &= xq >= want
                target = f">= {want}x {verdict}"
        else:
            met = (r.rss_mb or 0) < 300
            ok &= met
            target = f"RSS < 300 MB {'met' if met else 'MISSED'}"
        inner = f"{r.inner:.2f}" if r.inner is not None else ""
        tool = r.tool.replace("|", "\\|")
        print(f"| {r.task} | {tool} | {r.seconds:.2f} | {inner} | {r.rss_mb:.0f} | {ratio} | {qratio} | {target} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
