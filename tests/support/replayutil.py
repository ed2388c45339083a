"""A webhook receiver on 127.0.0.1 for replay tests: verifies the Stripe signature, dedups by
Idempotency-Key, counts everything, and can answer 500 or 429 for a while."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SECRET = "whsec_Zq7-replay-SIGNING-k3y-9f2e"  # distinctive: it must appear nowhere but in the HMAC


def verify_stripe(header: str, body: bytes, secret: str, tolerance: float = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    want = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", "")) and abs(time.time() - t) <= tolerance


@dataclass
class Receiver:
    secret: str = SECRET
    fail_first: int = 0  # answer the first N requests with fail_status
    fail_status: int = 500
    fail_body: bytes = b'{"error": "receiver down for a while"}'
    throttle_once: bool = False  # answer each key's first request 429 with Retry-After
    retry_after: str = "1"
    requests: int = 0
    bad_signatures: int = 0
    by_key: Counter[str] = field(default_factory=Counter)  # accepted requests per idempotency key
    attempts: Counter[str] = field(default_factory=Counter)  # every request per key, refused or not
    arrivals: list[dict[str, Any]] = field(default_factory=list)  # accepted bodies in arrival order
    headers_seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def unique(self) -> int:
        return len(self.by_key)

    def answer(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            self.requests += 1
            self.attempts[key] += 1
            self.headers_seen.append(json.dumps(dict(headers.items())))
            if self.requests <= self.fail_first:
                return self.fail_status, {}, self.fail_body
            if self.throttle_once and self.attempts[key] == 1:
                return 429, {"Retry-After": self.retry_after}, b"slow down"
            if not verify_stripe(headers.get("Stripe-Signature", ""), body, self.secret):
                self.bad_signatures += 1
                return 400, {}, b"bad signature"
            self.by_key[key] += 1
            if self.by_key[key] == 1:
                self.arrivals.append(json.loads(body))
            return 200, {}, b'{"ok": true}'


@contextlib.contextmanager
def receiver(**kw: Any) -> Iterator[Receiver]:
    rec = Receiver(**kw)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()  # headers and body are two writes: without NODELAY each waits on a delayed ACK
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            status, headers, out = rec.answer(self.headers, body)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def write_events(path: Path, n: int, customers: int = 7, start: int = 0) -> None:
    """n events: evt_<i>, spread over customers, each with its per-customer sequence number."""
    seqs: Counter[str] = Counter()
    with path.open("w") as f:
        for i in range(start, start + n):
            cust = f"cus_{i % customers}"
            seqs[cust] += 1
            f.write(json.dumps({"id": f"evt_{i:07d}", "customer": cust, "n": seqs[cust],
                                "created": 1772323200 + i, "type": "invoice.paid"}) + "\n")


def config(d: Path, url: str, source: str, *, extra: str = "", store: str | None = None,
           concurrency: int = 8) -> Path:
    """An opsbook.yaml with one replay ``hooks`` to ``url`` signed with SECRET (from a file)."""
    (d / "whsec").write_text(SECRET)
    text = f"""
store: {{url: "{store or f'sqlite:///{d / "store.db"}'}"}}
resources:
  receiver: {{kind: http, url: "{url}"}}
replay:
  hooks:
    source: {source}
    target: {{resource: receiver, path: /webhooks/stripe}}
    signature: {{stripe: {{secret: {{file: {d / 'whsec'}}}}}}}
    order_key: customer
    concurrency: {concurrency}
    retries: {{times: 3, backoff: 10ms, max_backoff: 50ms, max_retry_after: 2s}}
{extra}"""
    p = d / "opsbook.yaml"
    p.write_text(text)
    return p
