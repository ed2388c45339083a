import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.helpers import free_port, load, run

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A unique key prefix; every key under it is deleted afterwards."""
    p = f"opsbook-test:{uuid.uuid4().hex[:10]}:"
    yield p
    r = redis.Redis.from_url(URL)
    for k in r.scan_iter(match=p + "*"):
        r.delete(k)
    r.close()


def test_ping_role_and_memory_from_info(tmp_path: Path) -> None:
    cfg = load(
        f"""
        resources:
          cache: {{kind: redis, url: "{URL}"}}
        checks:
          cache: {{redis: {{resource: cache}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["cache"]
    assert r.status == "pass", r.summary
    o = r.observations
    assert o["ping"] is True
    assert o["role"] == "master"
    assert o["used_memory"] > 0
    assert o["connected_clients"] >= 1
    assert o["version"][0].isdigit()
    assert o["memory_ratio"] is None or o["memory_ratio"] > 0


def test_keys_exist_and_lengths_by_type(tmp_path: Path, prefix: str) -> None:
    r = redis.Redis.from_url(URL)
    r.rpush(prefix + "jobs", "a", "b", "c")
    r.xadd(prefix + "events", {"x": "1"})
    r.zadd(prefix + "delayed", {"a": 1, "b": 2})
    r.sadd(prefix + "workers", "w1")
    r.hset(prefix + "config", mapping={"a": "1", "b": "2"})
    r.close()
    keys = ["jobs", "events", "delayed", "workers", "config", "missing"]
    cfg = load(
        f"""
        checks:
          q:
            redis:
              url: "{URL}"
              keys: ["{prefix}jobs", "{prefix}missing"]
              lengths: [{", ".join(f'"{prefix}{k}"' for k in keys)}]
    """,
        tmp_path,
    )
    res = run(cfg)["q"]
    assert res.status == "pass", res.summary
    assert res.observations["exists"] == {prefix + "jobs": True, prefix + "missing": False}
    assert res.observations["length"] == {
        prefix + "jobs": 3,
        prefix + "events": 1,
        prefix + "delayed": 2,
        prefix + "workers": 1,
        prefix + "config": 2,
        prefix + "missing": 0,
    }


def test_queue_length_assertion_fails_when_backlog_grows(tmp_path: Path, prefix: str) -> None:
    r = redis.Redis.from_url(URL)
    r.rpush(prefix + "jobs", *range(20))
    r.close()
    cfg = load(
        f"""
        checks:
          backlog: {{redis: {{url: "{URL}", lengths: ["{prefix}jobs"]}},
                    expect: ["length['{prefix}jobs'] < 10"]}}
    """,
        tmp_path,
    )
    res = run(cfg)["backlog"]
    assert res.status == "fail"
    assert res.assertions[0].actual == 20


def test_unreachable_server_is_a_retryable_error(tmp_path: Path) -> None:
    cfg = load(
        f"""
        checks:
          cache: {{redis: {{url: "redis://127.0.0.1:{free_port()}/0"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["cache"]
    assert r.status == "error"
    assert r.summary.startswith("cannot connect to Redis")
    assert r.error and r.error["retryable"] is True


def test_wrong_password_is_a_non_retryable_error_without_the_password(tmp_path: Path) -> None:
    # the local server has no password: AUTH with one is refused, which is the same path
    cfg = load(
        """
        checks:
          cache: {redis: {url: "redis://opsbook:Wr0ngPassword@127.0.0.1:6379/0"}}
    """,
        tmp_path,
    )
    r = run(cfg)["cache"]
    assert r.status == "error", r.summary
    assert r.error and r.error["retryable"] is False
    assert "Wr0ngPassword" not in json.dumps(r.to_dict())


def test_password_never_appears_in_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_TEST_REDIS", f"redis://:S3cretRedisPw@127.0.0.1:{free_port()}/0")
    cfg = load(
        """
        resources:
          cache: {kind: redis, url: {env: OPSBOOK_TEST_REDIS}}
        checks:
          cache: {redis: {resource: cache}}
    """,
        tmp_path,
    )
    r = run(cfg)["cache"]
    assert r.status == "error"
    assert "S3cretRedisPw" not in json.dumps(r.to_dict())


def test_a_bad_url_is_reported_without_echoing_it(tmp_path: Path) -> None:
    cfg = load(
        """
        checks:
          cache: {redis: {url: "http://user:Echo9Secret@127.0.0.1:6379"}}
    """,
        tmp_path,
    )
    r = run(cfg)["cache"]
    assert r.status == "error"
    assert "not a valid Redis URL" in r.summary
    assert "Echo9Secret" not in json.dumps(r.to_dict())
