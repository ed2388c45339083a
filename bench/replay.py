"""Replay throughput: ``opsbook replay run`` vs a naive sequential httpx loop, same signing, same data.

    uv run python bench/replay.py [--n 100000] [--naive-n 5000] [--concurrency 64]

What it does, all on 127.0.0.1:

1. Writes N Stripe-like events as one JSONL file (``evt_<i>``, 1,000 customers) in a temp dir.
2. Starts a receiver in a child process: a raw asyncio HTTP/1.1 server (keep-alive, no framework)
   that verifies every ``Stripe-Signature`` (HMAC-SHA256 of ``t.body``), counts valid, invalid and
   distinct ``Idempotency-Key`` values, and answers ``GET /stats`` with those counts.
3. Times ``python -m opsbook replay run bench --json`` (a subprocess: interpreter start, config
   load, streaming the file, signing, sending with per-customer ordering, recording every
   outcome in a SQLite store) and samples its RSS from /proc every 0.2 s; runs it on N/5 events
   first so the peak RSS of both sizes can be compared (flat memory: the same peak).
4. Times a naive loop: one ``httpx.Client``, read a line, sign it, POST it, next; on ``--naive-n``
   events (it is slow), extrapolated to N and said so.

Prints events/s of both, the ratio, the receiver's counts and the RSS figures. Exit 0 when every
event arrived with a valid signature and the rate is >= 2,000 events/s, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_bench_not_a_real_secret_0001"
STEP_TIMEOUT = 600.0

# ----------------------------------------------------------------------------- receiver (child)


STATS = {"valid": 0, "invalid": 0}
KEYS: set[bytes] = set()


class _Receiver(asyncio.Protocol):

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            headers = {}
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + n:
                return
            body, self.buf = self.buf[end + 4:end + 4 + n], self.buf[end + 4 + n:]
            if head.startswith("GET /stats"):
                out = json.dumps({**STATS, "unique": len(KEYS)}).encode()
            else:
                ok = _verify(headers.get("stripe-signature", ""), body)
                STATS["valid" if ok else "invalid"] += 1
                if ok:
                    KEYS.add(headers.get("idempotency-key", "").encode())
                out = b'{"ok":true}' if ok else b'{"error":"bad signature"}'
            status = b"200 OK" if not out.startswith(b'{"error') else b"400 Bad Request"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(out)).encode() + b"\r\n\r\n" + out)


def _verify(header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    want = hmac.new(SECRET.encode(), parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))


def serve() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, "127.0.0.1", 0, backlog=4096)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))  # parent gone: stop
        await stop
        server.close()

    asyncio.run(main())


# ----------------------------------------------------------------------------- the runs


def write_events(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"evt_{i:08d}", "object": "event", "type": "invoice.paid",
                                "customer": f"cus_{i % 1000:04d}", "created": 1772323200 + i,
                                "data": {"object": {"amount_paid": 1000 + i % 5000, "currency": "eur"}}}) + "\n")


def stats(port: int) -> dict[str, int]:
    import httpx

    return dict(httpx.get(f"http://127.0.0.1:{port}/stats", timeout=10, trust_env=False).json())


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def opsbook_run(d: Path, events: Path, port: int, concurrency: int) -> tuple[float, list[int], dict[str, object]]:
    (d / "whsec").write_text(SECRET)
    store = d / f"store-{events.stem}.db"
    cfg = d / f"opsbook-{events.stem}.yaml"
    cfg.write_text(f"""
store: {{url: "sqlite:///{store}"}}
resources:
  receiver: {{kind: http, url: "http://127.0.0.1:{port}"}}
replay:
  bench:
    source: {{jsonl: {{path: {events}, key: id}}}}
    target: {{resource: receiver, path: /webhooks/stripe}}
    signature: {{stripe: {{secret: {{file: {d / 'whsec'}}}}}}}
    order_key: customer
    concurrency: {concurrency}
    timeout: 30s
""")
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "opsbook", "replay", "run", "bench", "--json", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    samples: list[int] = []

    def sample() -> None:
        while proc.poll() is None:
            kb = rss_kb(proc.pid)
            if kb:
                samples.append(kb)
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        out, err = proc.communicate(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    took = time.perf_counter() - start
    t.join(1)
    if proc.returncode != 0:
        print(err.decode()[-2000:], file=sys.stderr)
    doc = json.loads(out) if out.strip() else {}
    return took, samples, doc


def naive(events: Path, port: int, n: int) -> float:
    import httpx

    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    start = time.perf_counter()
    with httpx.Client(timeout=30, trust_env=False) as client, events.open("rb") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            body = line.rstrip(b"\n")
            key = json.loads(body)["id"]
            t = int(time.time())
            sig = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            r = client.post(url, content=body, headers={"Stripe-Signature": f"t={t},v1={sig}",
                                                          "Idempotency-Key": f"naive-{key}",
                                                          "Content-Type": "application/json"})
            r.raise_for_status()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--naive-n", type=int, default=5_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-replay-") as tmp:
        d = Path(tmp)
        big, small = d / "events.jsonl", d / "small.jsonl"
        write_events(big, args.n)
        write_events(small, max(1, args.n // 5))
        child = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                 start_new_session=True)
        try:
            assert child.stdout is not None
            port = int(json.loads(child.stdout.readline())["port"])
            small_took, small_rss, _ = opsbook_run(d, small, port, args.concurrency)
            before = stats(port)
            took, rss, doc = opsbook_run(d, big, port, args.concurrency)
            after = stats(port)
            naive_n = min(args.naive_n, args.n)
            naive_took = naive(big, port, naive_n)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            child.wait(10)
    rate = args.n / took
    naive_rate = naive_n / naive_took
    arrived = after["valid"] - before["valid"]
    run = doc.get("run", {}) if isinstance(doc.get("run"), dict) else {}
    print(f"events: {args.n:,} signed (Stripe-Signature), 1,000 customers in order, concurrency {args.concurrency}")
    print(f"{'row':<44} {'seconds':>9} {'events/s':>10}")
    print(f"{'opsbook replay run (CLI, end to end)':<44} {took:>9.2f} {rate:>10,.0f}")
    print(f"{'  of which sending (the run record)':<44} {run.get('active_seconds', 0):>9.2f} "
          f"{doc.get('rate') or 0:>10,.0f}")
    print(f"{f'naive sequential httpx loop ({naive_n:,} events)':<44} {naive_took:>9.2f} {naive_rate:>10,.0f}")
    print(f"naive loop extrapolated to {args.n:,} events: {args.n / naive_rate:.1f} s (it ran {naive_n:,}; "
          "the rate is flat, each event is one round trip)")
    print(f"ratio opsbook / naive: {rate / naive_rate:.1f}x")
    print(f"receiver: {arrived:,} valid signatures from opsbook, {after['invalid']} invalid, "
          f"{after['unique']:,} distinct idempotency keys in all")
    print(f"RSS of `opsbook replay run`: peak {max(rss, default=0) / 1024:.0f} MiB on {args.n:,} events, "
          f"peak {max(small_rss, default=0) / 1024:.0f} MiB on {max(1, args.n // 5):,} events "
          f"(samples every 0.2 s; first {rss[0] / 1024 if rss else 0:.0f} MiB, "
          f"last {rss[-1] / 1024 if rss else 0:.0f} MiB)")
    print(f"(the {max(1, args.n // 5):,}-event run took {small_took:.1f} s)")
    ok = arrived == args.n and after["invalid"] == 0 and rate >= 2000
    print(f"target >= 2,000 events/s: {'met' if rate >= 2000 else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        sys.exit(main())
