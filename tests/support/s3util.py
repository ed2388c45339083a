"""An S3-protocol server for tests: moto in server mode on a free local port.

with moto_endpoint() as url: ...            # anywhere
with scratch_bucket(url) as bucket: ...     # a unique bucket, emptied and removed afterwards
def test_x(moto: str): ...                  # as a fixture: tests/conftest.py
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.support.helpers import free_port

ACCESS_KEY = "opsbook-test-key"
SECRET_KEY = "opsbook-test-secret"  # moto accepts any credentials
REGION = "us-east-1"


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """Start moto on 127.0.0.1:<free port>, yield its endpoint URL, stop it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@contextmanager
def scratch_bucket(endpoint: str, prefix: str = "opsbook-test") -> Iterator[str]:
    """Create a uniquely named bucket, yield its name, delete its objects and it afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3 = client(endpoint)
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)


def resource_yaml(endpoint: str, bucket: str, prefix: str = "") -> str:
    """A one-line flow-style s3 resource for test configs."""
    return (
        f'{{kind: s3, bucket: "{bucket}", endpoint: "{endpoint}", region: {REGION}, '
        f'access_key_id: {ACCESS_KEY}, secret_access_key: {SECRET_KEY}, prefix: "{prefix}"}}'
    )
