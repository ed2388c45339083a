"""``redis``: PING, role and memory from INFO, and optionally key existence and queue lengths."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # imported where used: the CLI starts fast and loads only what a run needs
    import redis.asyncio as aioredis
    import redis.exceptions as rex
from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import RedisResource
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

# TYPE -> the command giving that type's length; a missing key ("none") has length 0,
# which is what an empty queue looks like to its consumers too.
_LENGTH = {
    "list": "LLEN",
    "stream": "XLEN",
    "zset": "ZCARD",
    "set": "SCARD",
    "hash": "HLEN",
    "string": "STRLEN",
}


class RedisParams(CheckParams):
    url: Secret | None = Field(
        default=None, description="redis://[:password@]host:6379/0; overrides the resource's"
    )
    keys: list[str] = Field(
        default_factory=list, description="keys whose existence is observed as exists.KEY"
    )
    lengths: list[str] = Field(
        default_factory=list, description="lists, streams, sets...: length.KEY"
    )


class RedisCheck:
    name: ClassVar[str] = "redis"
    Params: ClassVar[type[CheckParams]] = RedisParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("redis",)
    default_expect: ClassVar[tuple[str, ...]] = ("ping == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("redis.asyncio",)
    observations: ClassVar[dict[str, str]] = {
        "ping": "true when PING answered PONG",
        "role": "'master', or 'slave' on a replica (INFO replication)",
        "version": "server version, e.g. '7.2.4'",
        "used_memory": "bytes in use",
        "maxmemory": "configured limit in bytes (0: none)",
        "memory_ratio": "used_memory / maxmemory; null without a limit",
        "connected_clients": "client connections",
        "exists": "{key: true|false} for each of keys:",
        "length": "{key: n} per lengths: key (LLEN, XLEN, ZCARD, SCARD or HLEN by type; 0 if none)",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        import redis.asyncio as aioredis
        import redis.exceptions as rex
        p: RedisParams = params
        if p.url is not None:
            url = reveal(p.url, "url")
        elif isinstance(ctx.resource, RedisResource):
            url = reveal(ctx.resource.url, "url")
        else:
            raise ProbeError("redis check needs url: or a redis resource:", retryable=False)
        assert url is not None
        try:
            client = aioredis.Redis.from_url(
                url,
                socket_connect_timeout=ctx.timeout,
                socket_timeout=ctx.timeout,
                retry_on_timeout=False,
            )
        except ValueError:
            # redis-py's message quotes the URL, which may hold a password
            raise ProbeError(
                "url is not a valid Redis URL", hint="use redis://host:6379/0", retryable=False
            ) from None
        start = time.perf_counter()
        try:
            obs = await _observe(client, p)
        except rex.RedisError as e:
            raise _error(e) from None
        finally:
            await client.aclose()
        obs["duration"] = round((time.perf_counter() - start) * 1000, 3)
        return Probe(
            obs, f"Redis {obs['version']} {obs['role']}, {obs['connected_clients']} client(s)"
        )


async def _observe(client: aioredis.Redis, p: RedisParams) -> dict[str, Any]:
    pong = await client.ping()
    info: dict[str, Any] = await client.info()
    used = int(info.get("used_memory", 0))
    limit = int(info.get("maxmemory", 0))
    obs: dict[str, Any] = {
        "ping": bool(pong),
        "role": info.get("role"),
        "version": str(info.get("redis_version", "")),
        "used_memory": used,
        "maxmemory": limit,
        "memory_ratio": round(used / limit, 4) if limit else None,
        "connected_clients": int(info.get("connected_clients", 0)),
    }
    if p.keys:
        obs["exists"] = {k: bool(await client.exists(k)) for k in p.keys}
    if p.lengths:
        obs["length"] = {k: await _length(client, k) for k in p.lengths}
    return obs


async def _length(client: aioredis.Redis, key: str) -> int:
    kind = await client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none":
        return 0
    cmd = _LENGTH.get(kind)
    if cmd is None:
        raise ProbeError(f"key {key!r} is a {kind}, which has no length", retryable=False)
    length = getattr(client, cmd.lower())  # client.llen, client.xlen, ...
    return int(await length(key))


def _error(e: rex.RedisError) -> ProbeError:
    import redis.exceptions as rex
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if (
        isinstance(e, rex.AuthenticationError | rex.AuthorizationError)
        or "NOAUTH" in text
        or "WRONGPASS" in text
    ):
        return ProbeError(
            f"Redis refused the credentials: {text}",
            hint="check the password in url:",
            retryable=False,
        )
    if isinstance(e, rex.TimeoutError):
        return ProbeError(f"Redis timed out: {text}", hint="the server is slow or unreachable")
    if isinstance(e, rex.ConnectionError):
        return ProbeError(
            f"cannot connect to Redis: {text}",
            hint="is Redis running and reachable on that host and port?",
        )
    return ProbeError(f"Redis error: {text}", retryable=False)


KIND = RedisCheck()
