"""Probe throughput: ``opsbook check`` vs Prometheus blackbox_exporter on N local HTTP endpoints.

    uv run python bench/probe.py [--n 1000] [--rounds 3] [--concurrency 64] [--ports 8]

What it does, all on 127.0.0.1:

1. Starts one target server in a child process: a minimal asyncio HTTP/1.1 server (raw
   ``asyncio.Protocol``, no framework, so the targets are never the bottleneck) listening on
   ``--ports`` ports; the N endpoints are N distinct paths spread over those ports
   (``http://127.0.0.1:PORT/ep/0001`` ...), each answering ``200 {"status": "ok"}``.
2. Writes an opsbook config with N ``http`` checks (``expect: ["status == 200"]``,
   ``defaults: {concurrency: C}``) and times ``python -m opsbook check --json --config FILE``
   end to end (interpreter start, imports, config load, probes, store write, JSON out).
   Falls back to the in-process ``run_checks`` when ``opsbook/__main__.py`` is missing.
3. Starts ``prometheus-blackbox-exporter`` (module ``http_2xx``) on a free port and drives it
   with the same N targets at the same concurrency via ``/probe?target=...&module=http_2xx``
   from an httpx client (keep-alive to the exporter; the exporter itself opens a new
   connection per probe, as opsbook does). Skipped, with install instructions, if missing.
4. Also times a bare httpx baseline (same client settings as opsbook's http kind: one shared
   AsyncClient, no keep-alive, same concurrency) to show the floor for Python + httpx.

Reports the median of ``--rounds`` rounds. Every child process and temp file is removed at
exit; every step has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BLACKBOX_CANDIDATES = ("prometheus-blackbox-exporter", "blackbox_exporter")
STEP_TIMEOUT = 300.0  # seconds: the deadline of any one timed run
LOCAL_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

# ----------------------------------------------------------------------------- target server

_BODY = b'{"status": "ok"}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_BODY)).encode()
    + b"\r\n\r\n"
    + _BODY
)
_RESPONSE_CLOSE = _RESPONSE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


class _Target(asyncio.Protocol):
    """Answers every request head with 200 {"status": "ok"}; keep-alive and pipelining aware."""

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
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4:]
            if b"connection: close" in head:
                self.transport.write(_RESPONSE_CLOSE)
                self.transport.close()
                return
            self.transport.write(_RESPONSE)


def serve(n_ports: int) -> None:
    """Child process: bind n_ports free ports, print them as one JSON line, serve until killed."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = []
        for _ in range(n_ports):
            s = await loop.create_server(_Target, "127.0.0.1", 0, backlog=4096, reuse_address=True)
            servers.append(s)
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        print(json.dumps({"ports": ports}), flush=True)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        # the parent's death closes our stdin: stop then too, never linger
        loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
        await stop
        for s in servers:
            s.close()

    asyncio.run(main())


# ----------------------------------------------------------------------------- processes


class Children:
    """Every child we start, each in its own session; all are killed (group-wide) at exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], **kw: object) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(cmd, start_new_session=True, **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p  # type: ignore[no-any-return]

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        self.procs.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 15.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


# ----------------------------------------------------------------------------- the runs


def write_config(path: Path, urls: list[str], concurrency: int) -> None:
    lines = [
        "version: 1",
        "project: bench-probe",
        f"defaults: {{concurrency: {concurrency}, timeout: 10s}}",
        "checks:",
    ]
    for i, url in enumerate(urls, 1):
        lines.append(f'  ep-{i:04d}: {{http: {{url: "{url}"}}, expect: ["status == 200"]}}')
    path.write_text("\n".join(lines) + "\n")


def _count_ok(doc: object) -> tuple[int, int]:
    """(passed, total) from an opsbook JSON document, whatever its exact envelope."""
    results: list[dict[str, object]] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            if "status" in v and "name" in v and "kind" in v:
                results.append(v)
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return sum(1 for r in results if r.get("status") == "pass"), len(results)


def run_opsbook_cli(config: Path, env: dict[str, str]) -> tuple[float, int, int, str]:
    cmd = [sys.executable, "-m", "opsbook", "check", "--json", "--config", str(config)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, timeout=STEP_TIMEOUT, env=env, cwd=config.parent,
                       stdin=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    try:
        ok, total = _count_ok(json.loads(p.stdout))
    except ValueError:
        ok, total = 0, 0
    note = "" if p.returncode == 0 else (
        f"exit {p.returncode}: {p.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
    )
    return wall, ok, total, note


def run_opsbook_inprocess(config: Path) -> tuple[float, int, int, str]:
    from opsbook.checks.registry import KINDS
    from opsbook.config.load import load_config
    from opsbook.plugins import PLUGINS
    from opsbook.runner import run_checks

    # steady-state probing, as a running daemon does it: the config is loaded once, outside
    # the timer, like blackbox_exporter's is; only the probes and their judgement are timed
    cfg = load_config(config, PLUGINS)
    t0 = time.perf_counter()
    results = asyncio.run(run_checks(cfg, KINDS))
    wall = time.perf_counter() - t0
    return wall, sum(r.status == "pass" for r in results), len(results), "in-process run_checks"


async def _drive(urls: list[str], concurrency: int,
                 probe: Callable[[str], Awaitable[bool]]) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)

    async def one(u: str) -> bool:
        async with sem:
            try:
                return await probe(u)
            except Exception:
                return False

    t0 = time.perf_counter()
    oks = await asyncio.gather(*(one(u) for u in urls))
    return time.perf_counter() - t0, sum(oks)


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    headers = dict(
        line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:] if b":" in line
    )
    if headers.get(b"transfer-encoding", b"").strip() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # the exporter sends no trailers
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])
    return await reader.readexactly(int(headers[b"content-length"]))


async def run_blackbox(
    exporter: str, urls: list[str], concurrency: int
) -> tuple[float, int, float]:
    """Drive the exporter over ``concurrency`` keep-alive connections, one probe at a time each.

    A minimal asyncio HTTP/1.1 client, not httpx: with httpx the Python driver, not the
    exporter, was the bottleneck (about 6 ms of driver CPU per /probe call on this machine).
    Returns (wall seconds, probes that succeeded, driver CPU seconds).
    """
    host, port = exporter.removeprefix("http://").split(":")
    queue: asyncio.Queue[str] = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    ok = 0

    async def worker() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                try:
                    u = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                writer.write(
                    f"GET /probe?module=http_2xx&target={quote(u, safe='')} HTTP/1.1\r\n"
                    f"Host: {host}:{port}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                body = await _read_body(reader, head)
                if head.startswith(b"HTTP/1.1 200") and b"\nprobe_success 1" in body:
                    ok += 1
        finally:
            writer.close()

    c0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(urls)))))
    return time.perf_counter() - t0, ok, time.process_time() - c0


async def run_httpx_baseline(urls: list[str], concurrency: int) -> tuple[float, int]:
    import httpx

    # as opsbook's http kind: one shared client, no keep-alive, a new connection per probe
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as client:

        async def probe(u: str) -> bool:
            return (await client.get(u)).status_code == 200

        return await _drive(urls, concurrency, probe)


def find_blackbox() -> str | None:
    for name in BLACKBOX_CANDIDATES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK)
                                       else None)
        if found:
            return found
    return None


@contextlib.contextmanager
def blackbox(children: Children, tmp: Path, binary: str) -> Iterator[str]:
    conf = tmp / "blackbox.yml"
    conf.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        "    timeout: 10s\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
        "      valid_status_codes: [200]\n"
    )
    port = free_port()
    log = (tmp / "blackbox.log").open("wb")
    p = children.start(
        [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_http(base + "/-/healthy") or p.poll() is not None:
            tail = (tmp / "blackbox.log").read_text()[-500:]
            raise RuntimeError(f"blackbox_exporter did not start: {tail}")
        yield base
    finally:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        log.close()


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="endpoints = checks (default 1000)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds; the median is reported")
    ap.add_argument("--concurrency", type=int, default=64, help="probes in flight (default 64)")
    ap.add_argument("--ports", type=int, default=8, help="ports the target server listens on")
    ap.add_argument("--in-process", action="store_true",
                    help="time opsbook's run_checks in this process instead of the CLI")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # child mode: the target server
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.n < 1 or args.rounds < 1:
        ap.error("--n and --rounds must be >= 1")

    children = Children()
    # SIGTERM / SIGHUP end the run through the same cleanup as Ctrl-C
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmpname:
            return _bench(args, children, Path(tmpname))
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        children.stop_all()


def _bench(args: argparse.Namespace, children: Children, tmp: Path) -> int:
    n, c = args.n, args.concurrency
    env = {**os.environ, **LOCAL_ENV}
    os.environ.update(LOCAL_ENV)

    # 1. targets
    server = children.start([sys.executable, __file__, "--serve", str(args.ports)],
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        print("target server failed to start", file=sys.stderr)
        return 3
    ports: list[int] = json.loads(line)["ports"]
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/ep/{i + 1:04d}" for i in range(n)]
    config = tmp / "opsbook.yaml"
    write_config(config, urls, c)

    use_cli = (ROOT / "src" / "opsbook" / "__main__.py").exists() and not args.in_process
    opsbook_label = "opsbook check (CLI)" if use_cli else "opsbook run_checks (in-process)"
    steady_label = "opsbook probing (in-process)"
    bb_binary = find_blackbox()

    print(f"probe bench: {n} HTTP endpoints = 1 asyncio target server (raw asyncio.Protocol, "
          f"HTTP/1.1) on {len(ports)} ports x {n // len(ports)}+ paths, all on 127.0.0.1")
    print(f"concurrency {c}, {args.rounds} round(s), median reported; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}, "
          f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    if bb_binary is None:
        print("blackbox_exporter not found: skipping it. Install with "
              "`apt-get install prometheus-blackbox-exporter` (Debian/Ubuntu) or download "
              "blackbox_exporter from https://github.com/prometheus/blackbox_exporter/releases "
              "and put it on PATH.")

    times: dict[str, list[float]] = {}
    notes: dict[str, str] = {}

    def record(tool: str, wall: float, ok: int, total: int, note: str = "",
               driver_cpu: float | None = None) -> None:
        times.setdefault(tool, []).append(wall)
        if ok != n:
            notes[tool] = f"only {ok}/{total or n} probes passed" + (f" ({note})" if note else "")
        extra = "" if driver_cpu is None else f"  (driver CPU {driver_cpu:.2f} s)"
        print(f"  round {len(times[tool])}: {tool:<34} {wall:7.3f} s  {ok}/{n} ok{extra}",
              file=sys.stderr)

    for _ in range(args.rounds):
        if use_cli:
            record(opsbook_label, *run_opsbook_cli(config, env))
        record(steady_label, *run_opsbook_inprocess(config))
        wall, ok = asyncio.run(asyncio.wait_for(run_httpx_baseline(urls, c), STEP_TIMEOUT))
        record("httpx baseline (no keep-alive)", wall, ok, n)

    if bb_binary is not None:
        try:
            with blackbox(children, tmp, bb_binary) as exporter:
                for _ in range(args.rounds):
                    wall, ok, cpu = asyncio.run(
                        asyncio.wait_for(run_blackbox(exporter, urls, c), STEP_TIMEOUT))
                    record("blackbox_exporter /probe", wall, ok, n, driver_cpu=cpu)
        except RuntimeError as e:
            print(f"blackbox_exporter skipped: {e}", file=sys.stderr)

    med = {tool: statistics.median(ts) for tool, ts in times.items()}
    print()
    print(f"| {'tool':<34} | {'probes':>6} | {'wall s':>7} | {'probes/s':>8} |")
    print(f"|{'-' * 36}|{'-' * 8}|{'-' * 9}|{'-' * 10}|")
    for tool, wall in med.items():
        print(f"| {tool:<34} | {n:>6} | {wall:7.3f} | {n / wall:8.0f} |")
    for tool, note in notes.items():
        print(f"note: {tool}: {note}")
    bb = med.get("blackbox_exporter /probe")
    ob = med.get(opsbook_label, med[steady_label])
    if bb is not None:
        print(f"ratio opsbook/blackbox, probing throughput (both warm): {bb / med[steady_label]:.2f}x "
              "(target >= 0.5x)")
        if use_cli:
            print(f"ratio opsbook/blackbox, whole `opsbook check` incl. interpreter start-up, config "
                  f"load, store write and JSON: {bb / ob:.2f}x")
    verdict = "the < 3 s target is for --n 1000"
    if n == 1000:
        verdict = f"target < 3 s: {'ok' if ob < 3.0 else 'MISSED'}"
    print(f"{n:,} checks in one `opsbook check` run: {ob:.2f} s ({verdict})"
          + ("" if use_cli else " [in-process: excludes interpreter start-up]"))
    return 0 if not notes else 1


if __name__ == "__main__":
    sys.exit(main())
