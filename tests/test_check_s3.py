import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import s3util
from tests.support.helpers import free_port, load, run
from tests.support.s3util import resource_yaml, scratch_bucket


@pytest.fixture(scope="module")
def endpoint(moto: str) -> str:
    return moto  # the conftest's moto server, under the name these tests read best with


@pytest.fixture
def bucket(endpoint: str) -> Iterator[str]:
    with scratch_bucket(endpoint) as name:
        yield name


def test_round_trip_writes_reads_and_cleans_up(tmp_path: Path, endpoint: str, bucket: str) -> None:
    cfg = load(
        f"""
        resources:
          media: {resource_yaml(endpoint, bucket, prefix="app/")}
        checks:
          media: {{s3: {{resource: media}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["media"]
    assert r.status == "pass", r.summary
    o = r.observations
    assert o["round_trip_ok"] is True
    assert o["write_ms"] > 0 and o["read_ms"] > 0 and o["delete_ms"] > 0
    left = s3util.client(endpoint).list_objects_v2(Bucket=bucket)
    assert left.get("KeyCount", 0) == 0  # the scratch object was deleted


def test_newest_object_age_passes_a_generous_bound_and_fails_a_tight_one(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    s3 = s3util.client(endpoint)
    s3.put_object(Bucket=bucket, Key="backups/db/2024-01-01.dump", Body=b"old")
    s3.put_object(Bucket=bucket, Key="backups/db/2024-01-02.dump", Body=b"newer!")
    s3.put_object(Bucket=bucket, Key="other/x", Body=b"not counted")
    cfg = load(
        f"""
        resources:
          backups: {resource_yaml(endpoint, bucket, prefix="backups/")}
        checks:
          fresh: {{s3: {{resource: backups, newest: db/}},
                  expect: ["age < 1h", "object_count == 2"]}}
          stale: {{s3: {{resource: backups, newest: db/}}, expect: ["age < 1ms"]}}
    """,
        tmp_path,
    )
    res = run(cfg)
    assert res["fresh"].status == "pass", res["fresh"].summary
    o = res["fresh"].observations
    assert o["newest_key"].startswith("backups/db/")
    assert o["size"] in (3, 6)
    assert res["stale"].status == "fail"


def test_an_empty_prefix_is_observed_and_fails_the_age_assertion(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    cfg = load(
        f"""
        resources:
          backups: {resource_yaml(endpoint, bucket)}
        checks:
          fresh: {{s3: {{resource: backups, newest: "nightly/"}}, expect: ["age < 26h"]}}
          default: {{s3: {{resource: backups, newest: "nightly/"}}}}
    """,
        tmp_path,
    )
    res = run(cfg)
    r = res["fresh"]
    assert r.status == "fail"
    assert r.observations["object_count"] == 0
    assert r.observations["age"] is None
    assert res["default"].status == "fail"  # default `ok == true` wants at least one object
    assert r.assertions[0].actual is None  # the failing assertion shows age was null


def test_a_missing_bucket_is_a_non_retryable_error(tmp_path: Path, endpoint: str) -> None:
    cfg = load(
        f"""
        resources:
          media: {resource_yaml(endpoint, "opsbook-no-such-bucket")}
        checks:
          rt: {{s3: {{resource: media}}}}
          newest: {{s3: {{resource: media, newest: ""}}}}
    """,
        tmp_path,
    )
    for r in run(cfg).values():
        assert r.status == "error"
        assert "NoSuchBucket" in r.summary
        assert r.error and r.error["retryable"] is False


def test_an_endpoint_that_is_down_is_a_retryable_error_without_credentials(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    cfg = load(
        f"""
        resources:
          media: {{kind: s3, bucket: b, endpoint: "{down}", region: us-east-1,
                  access_key_id: AKIAEXAMPLE, secret_access_key: {{env: OPSBOOK_TEST_S3_SECRET}}}}
        checks:
          rt: {{s3: {{resource: media}}, timeout: 3s}}
    """,
        tmp_path,
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("OPSBOOK_TEST_S3_SECRET", "VerySecretS3Key")
    try:
        r = run(cfg)["rt"]
    finally:
        mp.undo()
    assert r.status == "error"
    assert r.summary.startswith("cannot reach the S3 endpoint")
    assert r.error and r.error["retryable"] is True
    assert "VerySecretS3Key" not in json.dumps(r.to_dict())


def test_inline_keys_override_the_resource(tmp_path: Path, endpoint: str, bucket: str) -> None:
    cfg = load(
        f"""
        resources:
          media: {resource_yaml(endpoint, "opsbook-no-such-bucket")}
        checks:
          rt: {{s3: {{resource: media, bucket: "{bucket}"}}}}
    """,
        tmp_path,
    )
    r = run(cfg)["rt"]
    assert r.status == "pass", r.summary
