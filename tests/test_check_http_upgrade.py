"""The http check against servers that upgrade, stall or drip: WebSocket handshakes, 101s, deadlines.

The servers are raw sockets on 127.0.0.1 (optionally TLS), so they can do what a framework
would not: answer 101 and keep the connection, send headers and then nothing, or drip a byte
at a time forever. Each check runs in a thread with a generous bound, so a regression (a
check that spins or hangs) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from opsbook.results import CheckResult
from tests.support.helpers import load, run
from tests.support.tlsutil import make_ca, make_leaf

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HANG_BOUND = 60  # seconds: far beyond every timeout: below; only a hang reaches it


class Peer:
    """One accepted connection: the request's head, and a way to answer."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self.conn = conn
        self.stop = stop
        self.headers: dict[str, str] = {}
        self.after = b""  # what the client sent after the request, for handlers that record it
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536 and not stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            if not data:
                break
            head += data
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if name:
                self.headers[name.strip().lower()] = value.strip()

    def send(self, text: str) -> None:
        self.conn.sendall(text.replace("\n", "\r\n").encode())

    def rest(self) -> bytes:
        """What the client sends after the request, until it closes the connection."""
        got = b""
        while True:
            stopping = self.stop.is_set()  # read before recv: what the client sent before the
            try:                           # server stopped is still drained below
                data = self.conn.recv(4096)
            except TimeoutError:
                if stopping:
                    return got
                continue
            if not data:
                return got
            got += data


class RawServer:
    """Accepts connections in a thread and hands each to ``handler``; TLS when given a context."""

    def __init__(self, handler: Callable[[Peer], None], tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.peers: list[Peer] = []
        self.threads: list[threading.Thread] = [threading.Thread(target=self._serve, daemon=True)]

    def url(self, path: str = "/ws", scheme: str | None = None) -> str:
        return f"{scheme or ('https' if self.tls else 'http')}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self.threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(0.2)
            peer = Peer(conn, self.stop)
            self.peers.append(peer)
            self.handler(peer)
        except (OSError, ssl.SSLError):
            pass  # the client hung up, as it should at its deadline
        finally:
            conn.close()


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def websocket(peer: Peer) -> None:
    chat = "Sec-WebSocket-Protocol: chat\n" if "chat" in peer.headers.get("sec-websocket-protocol", "") else ""
    peer.send("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n"
              f"Sec-WebSocket-Accept: {accept_for(peer.headers.get('sec-websocket-key', ''))}\n{chat}\n")
    peer.after = peer.rest()


def wrong_accept(peer: Peer) -> None:
    peer.send("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n"
              f"Sec-WebSocket-Accept: {accept_for('not-the-key')}\n\n")
    peer.rest()


def ignores_upgrade(peer: Peer) -> None:
    peer.send("HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 6\nConnection: close\n\n<html>")


def switches_and_keeps_the_line(peer: Peer) -> None:
    """101 to whatever upgrade was asked, then protocol bytes, and never a close from our side."""
    peer.send(f"HTTP/1.1 101 Switching Protocols\nUpgrade: {peer.headers.get('upgrade', 'h2c')}\n"
              "Connection: Upgrade\n\n")
    peer.conn.sendall(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00")  # an HTTP/2 SETTINGS frame header
    peer.after = peer.rest()


def headers_then_nothing(peer: Peer) -> None:
    peer.send("HTTP/1.1 200 OK\nContent-Length: 100\n\n")
    peer.rest()


def drips(peer: Peer) -> None:
    peer.send("HTTP/1.1 200 OK\nContent-Length: 1000000\n\n")
    while not peer.stop.wait(0.05):
        peer.conn.sendall(b"x")


def never_answers(peer: Peer) -> None:
    peer.rest()


def run_within_bound(yaml: str, tmp_path: Path) -> CheckResult:
    box: dict[str, CheckResult] = {}
    thread = threading.Thread(target=lambda: box.update(run(load(yaml, tmp_path))), daemon=True)
    thread.start()
    thread.join(HANG_BOUND)
    assert not thread.is_alive(), "the check never ended: it ignored timeout:"
    return box["c"]


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    tmp = tmp_path_factory.mktemp("tls")
    ca, ca_key, _ = make_ca(tmp)
    cert, key = make_leaf(tmp, ca, ca_key, "ws", days_left=30)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture(params=["http", "https"])
def tls(request: pytest.FixtureRequest, tls_context: ssl.SSLContext) -> ssl.SSLContext | None:
    return tls_context if request.param == "https" else None


def test_a_websocket_check_observes_the_101_and_its_upgrade_headers_then_closes(
        tls: ssl.SSLContext | None, tmp_path: Path) -> None:
    with RawServer(websocket, tls) as server:
        r = run_within_bound(
            f"checks: {{c: {{http: {{url: '{server.url()}', websocket: true, verify: false,"
            " headers: {Sec-WebSocket-Protocol: 'chat, superchat'}},"
            " expect: ['status == 101', \"header.upgrade == 'websocket'\", 'websocket.accepted == true',"
            " \"websocket.protocol == 'chat'\"]}}", tmp_path)
    assert r.status == "pass", (r.summary, r.assertions)
    assert r.observations["websocket"]["reason"] == ""
    sent = server.peers[0].headers
    assert sent["upgrade"] == "websocket" and sent["connection"] == "Upgrade"
    assert sent["sec-websocket-version"] == "13"
    assert len(base64.b64decode(sent["sec-websocket-key"])) == 16
    # a masked Close frame (opcode 8) with status 1000, then the client hung up
    after = server.peers[0].after
    assert after[:2] == b"\x88\x82" and len(after) == 8
    mask, payload = after[2:6], after[6:8]
    assert bytes(b ^ mask[i] for i, b in enumerate(payload)) == (1000).to_bytes(2, "big")


def test_a_ws_url_is_a_websocket_handshake_that_passes_by_default(tls: ssl.SSLContext | None,
                                                                  tmp_path: Path) -> None:
    with RawServer(websocket, tls) as server:
        scheme = "wss" if tls else "ws"
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url(scheme=scheme)}', verify: false}}}}}}",
                             tmp_path)
    assert r.status == "pass", r.summary
    assert r.observations["status"] == 101
    assert [a.expr for a in r.assertions] == ["websocket.accepted == true"]


def test_a_wrong_sec_websocket_accept_fails_the_default_expectation(tmp_path: Path) -> None:
    with RawServer(wrong_accept) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url()}', websocket: true}}}}}}", tmp_path)
    assert r.status == "fail"
    assert r.observations["status"] == 101
    assert r.observations["websocket"]["accepted"] is False
    assert "Sec-WebSocket-Accept" in r.observations["websocket"]["reason"]


def test_a_server_that_ignores_the_upgrade_fails_a_websocket_check(tmp_path: Path) -> None:
    with RawServer(ignores_upgrade) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url()}', websocket: true}}}}}}", tmp_path)
    assert r.status == "fail"
    assert r.observations["websocket"] == {"accepted": False, "protocol": "",
                                           "reason": "the server answered 200, not 101 Switching Protocols"}


def test_a_101_the_parser_pauses_on_is_an_observation_and_the_connection_is_closed(
        tls: ssl.SSLContext | None, tmp_path: Path) -> None:
    # a hand-written Upgrade header: h11 switches protocol and says PAUSED from then on; the old
    # read loop turned on PAUSED without awaiting, spinning a core and starving the timeout
    with RawServer(switches_and_keeps_the_line, tls) as server:
        r = run_within_bound(
            f"checks: {{c: {{http: {{url: '{server.url()}', verify: false,"
            " headers: {Upgrade: h2c, Connection: 'Upgrade, HTTP2-Settings', HTTP2-Settings: ''}},"
            " expect: ['status == 101', \"header.upgrade == 'h2c'\"], timeout: 2s}}", tmp_path)
        assert r.status == "pass", (r.summary, r.assertions)
        assert "websocket" not in r.observations
    assert server.peers[0].after == b""  # the client closed the connection and sent nothing


def test_a_101_without_an_upgrade_request_is_an_error_not_a_hang(tmp_path: Path) -> None:
    with RawServer(switches_and_keeps_the_line) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url()}'}}, timeout: 2s}}}}", tmp_path)
    assert r.status == "error"
    assert "broke the HTTP exchange" in r.summary


@pytest.mark.parametrize(("handler", "stage"), [
    (never_answers, "waiting for the response headers"),
    (headers_then_nothing, "reading the body (0 bytes received"),
    (drips, "reading the body ("),
])
def test_a_server_that_never_finishes_its_response_ends_at_timeout_with_an_error(
        handler: Callable[[Peer], None], stage: str, tls: ssl.SSLContext | None, tmp_path: Path) -> None:
    # the drip sends a byte every 50 ms: a per-read timeout would wait forever, the deadline does not
    with RawServer(handler, tls) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url('/slow')}', verify: false}},"
                             " timeout: 1s}}", tmp_path)
    assert r.status == "error"
    assert r.summary.startswith(f"{server.url('/slow')}: timed out {stage}"), r.summary
    assert r.error is not None and "whole check" in r.hint


def test_a_tls_handshake_that_never_completes_ends_at_timeout(tmp_path: Path) -> None:
    with RawServer(never_answers) as server:  # plain TCP: accepts, reads, never answers the ClientHello
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url(scheme='https')}'}}, timeout: 1s}}}}",
                             tmp_path)
    assert r.status == "error"
    assert "timed out in the TLS handshake" in r.summary, r.summary


def test_the_deadline_covers_every_redirect_hop_together(tmp_path: Path) -> None:
    # each hop answers its headers after a pause; only the sum of hops exceeds the timeout
    def slow_redirect(peer: Peer) -> None:
        peer.stop.wait(0.3)
        peer.send("HTTP/1.1 302 Found\nLocation: /again\nContent-Length: 0\n\n")

    with RawServer(slow_redirect) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url('/')}'}}, timeout: 1s}}}}", tmp_path)
    assert r.status == "error"
    assert "timed out waiting for the response headers" in r.summary
    assert len(server.peers) >= 2


@pytest.mark.parametrize("extra", ["method: POST", "json: {a: 1}", "body: x"])
def test_a_websocket_check_with_a_method_or_body_is_a_config_error(extra: str, tmp_path: Path) -> None:
    from opsbook.errors import ConfigErrors

    with pytest.raises(ConfigErrors, match="WebSocket handshake"):
        load(f"checks: {{c: {{http: {{url: 'http://127.0.0.1:1/ws', websocket: true, {extra}}}}}}}", tmp_path)


def test_a_subprotocol_the_client_did_not_offer_is_not_accepted(tmp_path: Path) -> None:
    def imposes_chat(peer: Peer) -> None:
        peer.send("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n"
                  f"Sec-WebSocket-Accept: {accept_for(peer.headers['sec-websocket-key'])}\n"
                  "Sec-WebSocket-Protocol: chat\n\n")

    with RawServer(imposes_chat) as server:
        r = run_within_bound(f"checks: {{c: {{http: {{url: '{server.url()}', websocket: true}}}}}}", tmp_path)
    assert r.status == "fail"
    assert r.observations["websocket"]["reason"] == "the server chose subprotocol 'chat', which was not offered"
