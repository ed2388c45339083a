"""``amqp``: connect to a broker (RabbitMQ) and observe queue depth and consumers.

Queues are declared passively, so a check never creates one. A passive declare of a missing
queue makes the broker close that channel, hence one fresh channel per queue: a missing
queue is an observation (``queues.NAME.exists == false``), not an error.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import AmqpResource
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

if TYPE_CHECKING:
    from aiormq.abc import AbstractConnection

# aiormq is imported when a check runs: it adds most of a second to every CLI start-up.


class AmqpParams(CheckParams):
    url: Secret | None = Field(
        default=None, description="amqp://user:pass@host:5672/vhost; overrides the resource's"
    )
    queues: list[str] = Field(
        default_factory=list,
        description="queues observed as queues.NAME.{exists, messages, consumers}",
    )


class AmqpCheck:
    name: ClassVar[str] = "amqp"
    Params: ClassVar[type[CheckParams]] = AmqpParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("amqp",)
    default_expect: ClassVar[tuple[str, ...]] = ("connected == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("aiormq",)
    observations: ClassVar[dict[str, str]] = {
        "connected": "true once connected and logged in",
        "server": "{product, version} the broker announced",
        "queues": "{NAME: {exists, messages, consumers}} per queue (counts null if missing)",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: AmqpParams = params
        if p.url is not None:
            url = reveal(p.url, "url")
        elif isinstance(ctx.resource, AmqpResource):
            url = reveal(ctx.resource.url, "url")
        else:
            raise ProbeError("amqp check needs url: or an amqp resource:", retryable=False)
        assert url is not None
        import aiormq.exceptions as ax

        start = time.perf_counter()
        conn = await _connect(url)
        try:
            props = conn.server_properties or {}
            obs: dict[str, Any] = {
                "connected": True,
                "server": {
                    "product": _text(props.get("product")),
                    "version": _text(props.get("version")),
                },
                "queues": {q: await _queue(conn, q) for q in p.queues},
            }
        except ax.AMQPError as e:
            raise ProbeError(
                f"AMQP error: {type(e).__name__}", hint="the broker closed the connection"
            ) from None
        finally:
            await _close(conn)
        obs["duration"] = round((time.perf_counter() - start) * 1000, 3)
        summary = (
            f"{obs['server']['product'] or 'broker'} {obs['server']['version'] or ''}".rstrip()
        )
        missing = [q for q, v in obs["queues"].items() if not v["exists"]]
        if p.queues:
            total = sum(v["messages"] or 0 for v in obs["queues"].values())
            summary += f", {total} message(s) in {len(p.queues)} queue(s)"
        if missing:
            summary += f", missing: {', '.join(missing)}"
        return Probe(obs, summary)


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return None if v is None else str(v)


async def _connect(url: str) -> AbstractConnection:
    # Messages are ours: aiormq's may repeat the URL, and with it the password.
    import aiormq
    import aiormq.exceptions as ax

    try:
        return await aiormq.connect(url)
    except ax.ProbableAuthenticationError:
        raise ProbeError(
            "the broker refused the login",
            hint="check the user and password in url:",
            retryable=False,
        ) from None
    except ax.AMQPConnectionError as e:
        errno = e.args[0] if e.args and isinstance(e.args[0], int) else None
        why = "connection refused" if errno == 111 else "cannot connect"
        raise ProbeError(
            f"cannot connect to the AMQP broker: {why}",
            hint="is the broker running and reachable on that host and port?",
        ) from None
    except (ax.ProtocolSyntaxError, ax.AMQPError):
        # e.g. the broker answers Connection.Open with Close: unknown vhost or no access to it
        raise ProbeError(
            "the broker closed the connection during the handshake",
            hint="check the vhost in url: and the user's permissions on it",
            retryable=False,
        ) from None
    except (OSError, ValueError) as e:
        raise ProbeError(
            f"cannot connect to the AMQP broker: {type(e).__name__}",
            hint="check url: (amqp://user:pass@host:5672/vhost)",
        ) from None


async def _queue(conn: AbstractConnection, name: str) -> dict[str, Any]:
    import aiormq.exceptions as ax

    channel = await conn.channel()
    try:
        ok = await channel.queue_declare(name, passive=True)
    except ax.ChannelNotFoundEntity:
        return {"exists": False, "messages": None, "consumers": None}
    except ax.ChannelAccessRefused:
        raise ProbeError(
            f"no access to queue {name!r}",
            hint="grant the user configure/read on it",
            retryable=False,
        ) from None
    finally:
        if not channel.is_closed:
            await channel.close()
    return {"exists": True, "messages": ok.message_count, "consumers": ok.consumer_count}


async def _close(conn: AbstractConnection) -> None:
    with contextlib.suppress(Exception):  # best effort; what we saw is already taken
        await conn.close()


KIND = AmqpCheck()
