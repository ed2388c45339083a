import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiormq
import pytest

from tests.support.helpers import free_port, load, run

URL = "amqp://guest:guest@127.0.0.1:5672/"


async def _admin(*, declare: dict[str, int], delete: list[str]) -> None:
    conn = await aiormq.connect(URL)
    ch = await conn.channel()
    for name, messages in declare.items():
        await ch.queue_declare(name)
        for i in range(messages):
            await ch.basic_publish(str(i).encode(), routing_key=name)
    for name in delete:
        await ch.queue_delete(name)
    await conn.close()


async def _exists(name: str) -> bool:
    conn = await aiormq.connect(URL)
    try:
        ch = await conn.channel()
        await ch.queue_declare(name, passive=True)
        return True
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        await conn.close()


@pytest.fixture
def queue() -> Iterator[str]:
    """A unique durable-less queue holding 3 messages, deleted afterwards."""
    name = f"opsbook-test-{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(declare={name: 3}, delete=[]))
    yield name
    asyncio.run(_admin(declare={}, delete=[name]))


def test_connects_and_reports_the_server(tmp_path: Path) -> None:
    cfg = load(
        f"""
        resources:
          mq: {{kind: amqp, url: "{URL}"}}
        checks:
          mq: {{amqp: {{resource: mq}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["mq"]
    assert r.status == "pass", r.summary
    assert r.observations["connected"] is True
    assert r.observations["server"]["product"] == "RabbitMQ"
    assert r.observations["server"]["version"]


def test_queue_depth_and_consumers_and_a_missing_queue(tmp_path: Path, queue: str) -> None:
    missing = f"opsbook-test-missing-{uuid.uuid4().hex[:8]}"
    cfg = load(
        f"""
        checks:
          jobs:
            amqp: {{url: "{URL}", queues: ["{queue}", "{missing}"]}}
            expect: ["queues['{queue}'].messages == 3", "queues['{queue}'].consumers == 0"]
          gone:
            amqp: {{url: "{URL}", queues: ["{missing}"]}}
            expect: ["queues['{missing}'].exists == true"]
    """,
        tmp_path,
    )
    res = run(cfg)
    assert res["jobs"].status == "pass", (res["jobs"].summary, res["jobs"].assertions)
    assert res["jobs"].observations["queues"][missing] == {
        "exists": False,
        "messages": None,
        "consumers": None,
    }
    assert f"missing: {missing}" in res["jobs"].summary
    assert res["gone"].status == "fail"
    assert not asyncio.run(_exists(missing))  # the passive declare did not create it


def test_backlog_assertion_fails_when_too_many_messages(tmp_path: Path, queue: str) -> None:
    cfg = load(
        f"""
        checks:
          jobs: {{amqp: {{url: "{URL}", queues: ["{queue}"]}},
                 expect: ["queues['{queue}'].messages < 2"]}}
    """,
        tmp_path,
    )
    r = run(cfg)["jobs"]
    assert r.status == "fail"
    assert r.assertions[0].actual == 3


def test_unreachable_broker_is_a_retryable_error(tmp_path: Path) -> None:
    cfg = load(
        f"""
        checks:
          mq: {{amqp: {{url: "amqp://guest:guest@127.0.0.1:{free_port()}/"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["mq"]
    assert r.status == "error"
    assert r.summary == "cannot connect to the AMQP broker: connection refused"
    assert r.error and r.error["retryable"] is True


def test_wrong_password_is_a_non_retryable_error_without_the_password(tmp_path: Path) -> None:
    cfg = load(
        """
        checks:
          mq: {amqp: {url: "amqp://guest:Wr0ngAmqpPw@127.0.0.1:5672/"}}
    """,
        tmp_path,
    )
    r = run(cfg)["mq"]
    assert r.status == "error"
    assert "refused the login" in r.summary
    assert r.error and r.error["retryable"] is False
    assert "Wr0ngAmqpPw" not in json.dumps(r.to_dict())


def test_unknown_vhost_is_a_non_retryable_error(tmp_path: Path) -> None:
    cfg = load(
        """
        checks:
          mq: {amqp: {url: "amqp://guest:guest@127.0.0.1:5672/opsbook-no-such-vhost"}}
    """,
        tmp_path,
    )
    r = run(cfg)["mq"]
    assert r.status == "error"
    assert "vhost" in r.hint
    assert r.error and r.error["retryable"] is False
