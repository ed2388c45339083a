"""A receiver that misbehaves on purpose: a real TCP server on 127.0.0.1 that accepts and never
answers (``hang``), answers one byte at a time forever (``drip``), answers 200 with a body that
never ends (``endless``), or answers 200 (``ok``)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

OK = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
      b'{"ok":true}')


class Peer:
    def __init__(self, mode: str, drip_every: float = 0.3) -> None:
        self.mode = mode  # may be changed while it runs: new connections follow it
        self.drip_every = drip_every
        self.bodies: list[dict[str, Any]] = []
        self.accepted = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            self._spawn(self._serve, conn, self.mode)

    def _serve(self, conn: socket.socket, mode: str) -> None:
        with contextlib.suppress(OSError):
            if mode == "hang":
                self.stop.wait()  # accepted, never read, never answered
                return
            body = self._read_request(conn)
            if mode == "drip":  # a status line that never ends, one byte at a time
                while not self.stop.wait(self.drip_every):
                    conn.sendall(b"H")
                return
            with self.lock:
                self.bodies.append(json.loads(body or b"null"))
            if mode == "endless":  # a 200 whose chunked body streams until the client hangs up
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
                while not self.stop.is_set():
                    conn.sendall(chunk)
                return
            conn.sendall(OK)
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return body

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
        for t in self.threads:
            t.join(5)


@contextlib.contextmanager
def peer(mode: str, drip_every: float = 0.3) -> Iterator[Peer]:
    p = Peer(mode, drip_every)
    try:
        yield p
    finally:
        p.close()
