"""``tcp``: open a TCP connection (optionally send, then read a banner); connect time observed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import (
    AmqpResource,
    HttpResource,
    PostgresResource,
    RedisResource,
    Resource,
    TcpResource,
)
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

_DEFAULT_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432,
                  "redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671}


def _dsn_host_port(dsn: str) -> tuple[str, int | None]:
    """host and port of a ``key=value`` libpq DSN (the URL form goes through urlsplit)."""
    kv = dict(part.split("=", 1) for part in dsn.split() if "=" in part)
    port = kv.get("port")
    return kv.get("host", "localhost").split(",")[0], int(port) if port else None


def endpoint(resource: Resource | None) -> tuple[str | None, int | None]:
    """The (host, port) a resource points at; None where it does not say."""
    if isinstance(resource, TcpResource):
        return resource.host, resource.port
    url: str | None = None
    if isinstance(resource, HttpResource):
        url = resource.url
    elif isinstance(resource, PostgresResource | RedisResource | AmqpResource):
        url = reveal(resource.dsn if isinstance(resource, PostgresResource) else resource.url)
    if not url:
        return None, None
    if "://" not in url:
        return _dsn_host_port(url)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme.lower())


class TcpParams(CheckParams):
    host: str | None = Field(default=None, description="host name or IP; or from the resource")
    port: int | None = Field(default=None, ge=1, le=65535)
    send: Secret | None = Field(default=None, description="text sent once connected")
    read_bytes: int = Field(default=0, ge=0, le=65536,
                            description="read up to this many bytes into banner")


async def connect(host: str, port: int, timeout: float) -> tuple[asyncio.StreamReader,
                                                               asyncio.StreamWriter]:
    """Open a connection, turning every failure into a ProbeError naming host:port."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        raise ProbeError(f"{host}:{port}: connect timed out after {timeout:g}s",
                         hint="a firewall dropping packets, or the host is down") from None
    except ConnectionRefusedError:
        raise ProbeError(f"{host}:{port}: connection refused",
                         hint="nothing listens there: is the service running?") from None
    except OSError as e:
        # socket.gaierror (name resolution) is an OSError too
        raise ProbeError(f"{host}:{port}: cannot connect: {e.strerror or e}",
                         hint="check the host name and the network path") from None


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1)


class TcpCheck:
    name: ClassVar[str] = "tcp"
    Params: ClassVar[type[CheckParams]] = TcpParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("tcp", "http", "postgres", "redis", "amqp")
    default_expect: ClassVar[tuple[str, ...]] = ("connected == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ()
    observations: ClassVar[dict[str, str]] = {
        "connected": "true once the TCP handshake completed",
        "duration": "connect time in milliseconds",
        "banner": "text read after connecting (and sending), up to read_bytes",
        "address": "the peer address connected to, ip:port",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: TcpParams = params
        r_host, r_port = endpoint(ctx.resource)
        host, port = p.host or r_host, p.port or r_port
        if not host or not port:
            raise ProbeError("a tcp check needs host: and port: (or a resource giving them)",
                             retryable=False)
        t0 = time.perf_counter()
        reader, writer = await connect(host, port, ctx.timeout)
        elapsed = (time.perf_counter() - t0) * 1000
        peer = writer.get_extra_info("peername")
        obs: dict[str, Any] = {
            "connected": True,
            "duration": round(elapsed, 3),
            "address": f"{peer[0]}:{peer[1]}" if peer else f"{host}:{port}",
        }
        try:
            if p.send is not None:
                writer.write((reveal(p.send, "send") or "").encode())
                await writer.drain()
            if p.read_bytes:
                # leave a little of the deadline so our message, not the runner's, explains it
                left = max(ctx.timeout - (time.perf_counter() - t0) - 0.05, 0.01)
                data = await asyncio.wait_for(reader.read(p.read_bytes), left)
                obs["banner"] = data.decode("utf-8", "replace")
        except TimeoutError:
            raise ProbeError(f"{host}:{port}: connected, but nothing was read in time",
                             hint="the service sends no banner; drop read_bytes") from None
        except OSError as e:
            raise ProbeError(f"{host}:{port}: connection broke: {e.strerror or e}") from None
        finally:
            await close(writer)
        return Probe(obs, f"connected to {host}:{port} in {elapsed:.1f} ms")


KIND = TcpCheck()
