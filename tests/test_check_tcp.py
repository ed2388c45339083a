"""tcp check against real listening sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import free_port, load, run


@pytest.fixture
def banner_server() -> Iterator[int]:
    """Greets like an SMTP server, then echoes one line back."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.sendall(b"220 test ready\r\n")
                    conn.sendall(b"echo:" + conn.recv(100))
                except OSError:
                    pass  # the client may hang up after the banner

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    sock.close()


def test_open_port_is_connected_with_connect_time(banner_server: int, tmp_path: Path) -> None:
    cfg = load(f"checks: {{port: {{tcp: {{host: 127.0.0.1, port: {banner_server}}}}}}}", tmp_path)
    r = run(cfg)["port"]
    assert r.status == "pass", r.summary
    assert r.observations["connected"] is True
    assert r.observations["duration"] >= 0
    assert r.observations["address"] == f"127.0.0.1:{banner_server}"


def test_banner_is_read_when_asked(banner_server: int, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          smtp: {{tcp: {{host: 127.0.0.1, port: {banner_server}, read_bytes: 64}},
                 expect: ["banner matches '^220 '"]}}
    """, tmp_path)
    r = run(cfg)["smtp"]
    assert r.status == "pass", r.summary
    assert r.observations["banner"] == "220 test ready\r\n"


def test_refused_port_is_an_error(tmp_path: Path) -> None:
    cfg = load(f"checks: {{port: {{tcp: {{host: 127.0.0.1, port: {free_port()}}}}}}}", tmp_path)
    r = run(cfg)["port"]
    assert r.status == "error"
    assert "connection refused" in r.summary


def test_unresolvable_host_is_an_error(tmp_path: Path) -> None:
    cfg = load("checks: {port: {tcp: {host: no-such-host.invalid, port: 80}}}", tmp_path)
    r = run(cfg)["port"]
    assert r.status == "error"
    assert "cannot connect" in r.summary


def test_host_and_port_come_from_resources(banner_server: int, tmp_path: Path) -> None:
    cfg = load(f"""
        resources:
          raw: {{kind: tcp, host: 127.0.0.1, port: {banner_server}}}
          api: {{kind: http, url: "http://127.0.0.1:{banner_server}/x"}}
          db: {{kind: postgres, dsn: "postgresql://app:hunter22@127.0.0.1:{banner_server}/app"}}
          cache: {{kind: redis, url: "redis://127.0.0.1:{banner_server}/0"}}
        checks:
          raw: {{tcp: {{resource: raw}}}}
          api: {{tcp: {{resource: api}}}}
          db: {{tcp: {{resource: db}}}}
          cache: {{tcp: {{resource: cache}}}}
    """, tmp_path)
    for name, r in run(cfg).items():
        assert r.status == "pass", (name, r.summary)
        assert "hunter22" not in str(r.to_dict())


def test_missing_port_is_an_error_not_a_crash(tmp_path: Path) -> None:
    cfg = load("checks: {port: {tcp: {host: 127.0.0.1}}}", tmp_path)
    r = run(cfg)["port"]
    assert r.status == "error"
    assert "port" in r.summary
