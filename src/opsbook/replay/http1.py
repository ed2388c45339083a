"""One keep-alive HTTP/1.1 connection per sender worker, over asyncio streams.

Why not httpx here (as for probes, checks/_http1.py): measured on this project's 2-core machine,
an ``httpx.AsyncClient`` POSTing to a local receiver managed 200-500 requests/s (its pool and
per-request machinery dominate; fewer at concurrency 64 than at 8), far from the 2,000 events/s a
replay of a day of webhooks wants. With h11 driving each connection it was ~1,000/s, h11's
event machinery taking about half of the CPU. A replay sends one kind of request and reads one
kind of answer, so this module writes the request itself (one write) and reads the response with
the stream's own line and length reads: status line, headers, then a Content-Length body, a
chunked body, or a body to EOF. Header names and values are refused when they hold CR or LF (an
event field becomes the idempotency key: it must not add headers). A connection the server
closes, or asks to close, is reopened for the next request.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from urllib.parse import urlsplit

from .. import __version__
from ..errors import ReplayHeaderRefused

READ_CHUNK = 65536


class Target:
    def __init__(self, url: str, verify: bool = True) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        default = 443 if u.scheme == "https" else 80
        self.authority = self.host if self.port == default else f"{self.host}:{self.port}"
        self.ssl: ssl.SSLContext | None = None
        if u.scheme == "https":
            self.ssl = ssl.create_default_context()
            if not verify:
                self.ssl.check_hostname = False
                self.ssl.verify_mode = ssl.CERT_NONE


MAX_HEAD = 64 * 1024  # bytes of a status line and headers
_BAD = re.compile(r"[\r\n\0]")


class Connection:
    """Requests one at a time over one connection, reopened when the server closed it."""

    def __init__(self, target: Target) -> None:
        self.t = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.prefix = (f"Host: {target.authority}\r\nUser-Agent: opsbook/{__version__}\r\n").encode()

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.t.host, self.t.port, ssl=self.t.ssl, server_hostname=self.t.host if self.t.ssl else None,
            limit=MAX_HEAD)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, headers: dict[str, str], body: bytes,
                      keep: int) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, the first ``keep`` bytes of the body).
        Raises OSError, EOFError, ValueError (a malformed answer, a bad header); the caller's
        deadline bounds it."""
        lines = []
        for k, v in headers.items():
            if _BAD.search(k) or _BAD.search(v):
                raise ReplayHeaderRefused(f"header {k!r} holds a line break")
            lines.append(f"{k}: {v}\r\n")
        try:
            head = (f"{method} {self.t.path} HTTP/1.1\r\n".encode() + self.prefix
                    + f"Content-Length: {len(body)}\r\n{''.join(lines)}\r\n".encode("latin-1"))
        except UnicodeEncodeError:
            raise ReplayHeaderRefused("a header holds a character HTTP/1.1 headers cannot carry") from None
        if self.writer is None:
            await self._open()
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        try:
            writer.write(head + body)
            while True:
                status, version, got = await _head(reader)
                if status >= 200:
                    break  # 1xx (100 Continue) is followed by the real answer
            kept = await _body(reader, got, keep, method)
            if version == "HTTP/1.0" or "close" in got.get("connection", "").lower() or kept[1]:
                self.close()
            return status, got, kept[0]
        except BaseException:
            self.close()
            raise


async def _head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise EOFError("the target closed the connection without an answer") from e
    except asyncio.LimitOverrunError:
        raise ValueError(f"the answer's headers are over {MAX_HEAD} bytes") from None
    first, *rest = raw.decode("latin-1").split("\r\n")
    parts = first.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP/1.1 answer: {first[:80]!r}")
    got: dict[str, str] = {}
    for line in rest:
        if line:
            k, _, v = line.partition(":")
            got[k.strip().lower()] = v.strip()
    return int(parts[1]), parts[0], got


async def _body(reader: asyncio.StreamReader, got: dict[str, str], keep: int, method: str) -> tuple[bytes, bool]:
    """(the first ``keep`` bytes of the body, whether the connection ends with it)."""
    kept = bytearray()

    async def take(n: int) -> None:
        while n > 0:  # in bounded pieces: a huge body is read through, never held
            chunk = await reader.readexactly(min(n, READ_CHUNK))
            if len(kept) < keep:
                kept.extend(chunk[:keep - len(kept)])
            n -= len(chunk)

    if method == "HEAD":
        return b"", False
    if "chunked" in got.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return bytes(kept), False
            await take(size)
            await reader.readexactly(2)
    if "content-length" in got:
        await take(int(got["content-length"]))
        return bytes(kept), False
    while chunk := await reader.read(READ_CHUNK):  # no length: the body ends with the connection
        if len(kept) < keep:
            kept.extend(chunk[:keep - len(kept)])
    return bytes(kept), True
