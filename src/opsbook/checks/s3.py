"""``s3``: prove a bucket is writable (round trip) or see how fresh its newest object is.

Round trip (default): put a scratch object under ``<prefix>opsbook-probe/``, read it back,
compare, delete. ``newest: PREFIX``: list under the resource's prefix + PREFIX and observe
the newest object's ``age`` in milliseconds, so ``expect: [age < 26h]`` catches a backup job
that stopped. An empty prefix is an observation (``object_count == 0``, ``age`` null), not
an error: the assertion fails and says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import S3Resource
from ..config.secrets import Secret, reveal
from ..errors import ProbeError
from .base import Probe, ProbeContext

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# boto3/botocore are imported inside the functions that use them: importing boto3 costs
# about half a second, which every CLI invocation would pay even with no s3 check.


class S3Params(CheckParams):
    bucket: str | None = None
    endpoint: Secret | None = Field(default=None, description="for MinIO, R2, B2...; default AWS")
    region: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    prefix: str | None = Field(
        default=None, description="key prefix; the probe object goes under it"
    )
    newest: str | None = Field(
        default=None,
        description="observe the newest object under prefix + this instead of a round trip",
    )


class S3Check:
    name: ClassVar[str] = "s3"
    Params: ClassVar[type[CheckParams]] = S3Params
    resource_kinds: ClassVar[tuple[str, ...]] = ("s3",)
    # `ok` means "the mode's basic promise held"; freshness needs the user's own `age < ...`
    default_expect: ClassVar[tuple[str, ...]] = ("ok == true",)
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("boto3", "botocore.config")
    observations: ClassVar[dict[str, str]] = {
        "ok": "round trip: round_trip_ok; newest: at least one object under the prefix",
        "round_trip_ok": "round trip: the object read back equals what was written",
        "write_ms": "round trip: PUT time in milliseconds",
        "read_ms": "round trip: GET time in milliseconds",
        "delete_ms": "round trip: DELETE time in milliseconds",
        "newest_key": "newest: key of the most recently modified object (null if none)",
        "age": "newest: milliseconds since it was last modified (null if none)",
        "size": "newest: its size in bytes",
        "last_modified": "newest: its LastModified timestamp (ISO 8601)",
        "object_count": "newest: objects under the prefix",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: S3Params = params
        target = _Target.of(p, ctx)
        deadline = time.monotonic() + ctx.timeout * 0.9
        if p.newest is not None:
            obs = await asyncio.to_thread(_newest, target, target.prefix + p.newest, deadline)
            if obs["newest_key"] is None:
                summary = f"no objects under s3://{target.bucket}/{target.prefix}{p.newest}"
            else:
                summary = f"newest {obs['newest_key']} is {obs['age'] / 3_600_000:.1f}h old"
            return Probe(obs, summary)
        obs = await asyncio.to_thread(_round_trip, target)
        verdict = "ok" if obs["round_trip_ok"] else "MISMATCH"
        return Probe(
            obs,
            f"round trip to s3://{target.bucket} {verdict} "
            f"(put {obs['write_ms']:.0f}ms, get {obs['read_ms']:.0f}ms)",
        )


class _Target:
    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix, client

    @classmethod
    def of(cls, p: S3Params, ctx: ProbeContext) -> _Target:
        r = ctx.resource if isinstance(ctx.resource, S3Resource) else None

        def pick(name: str) -> Any:  # inline keys override the resource's
            v = getattr(p, name)
            return v if v is not None else (getattr(r, name) if r else None)

        bucket = pick("bucket")
        if not bucket:
            raise ProbeError("s3 check needs bucket: or an s3 resource:", retryable=False)
        timeout = max(1.0, ctx.timeout)
        import boto3
        import botocore.exceptions as bx
        from botocore.config import Config

        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 1, "mode": "standard"},  # the runner owns retries
            s3={"addressing_style": "path"},
        )  # what MinIO and friends expect
        endpoint = reveal(pick("endpoint"), "endpoint")
        try:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=pick("region"),
                config=config,
                aws_access_key_id=reveal(pick("access_key_id"), "access_key_id"),
                aws_secret_access_key=reveal(pick("secret_access_key"), "secret_access_key"),
            )
        except (bx.BotoCoreError, ValueError) as e:
            raise ProbeError(
                f"cannot set up the S3 client: {type(e).__name__}",
                hint="check endpoint: and region:",
                retryable=False,
            ) from None
        return cls(bucket, pick("prefix") or "", client)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _round_trip(t: _Target) -> dict[str, Any]:
    key = f"{t.prefix}opsbook-probe/{uuid.uuid4().hex}"
    body = os.urandom(32)
    start = time.perf_counter()
    obs: dict[str, Any] = {}
    t0 = time.perf_counter()
    _call(t, lambda: t.client.put_object(Bucket=t.bucket, Key=key, Body=body), "writing")
    obs["write_ms"] = _ms(t0)
    try:
        t0 = time.perf_counter()
        got = _call(
            t, lambda: t.client.get_object(Bucket=t.bucket, Key=key)["Body"].read(), "reading"
        )
        obs["read_ms"] = _ms(t0)
    finally:
        # never leave the scratch object behind, even when the read failed
        t0 = time.perf_counter()
        _call(t, lambda: t.client.delete_object(Bucket=t.bucket, Key=key), "deleting")
        obs["delete_ms"] = _ms(t0)
    obs["round_trip_ok"] = obs["ok"] = got == body
    obs["duration"] = _ms(start)
    return obs


def _newest(t: _Target, prefix: str, deadline: float) -> dict[str, Any]:
    start = time.perf_counter()
    newest: Any = None
    count = 0

    def scan() -> None:
        nonlocal newest, count
        for page in t.client.get_paginator("list_objects_v2").paginate(
            Bucket=t.bucket, Prefix=prefix
        ):
            for o in page.get("Contents", []):
                count += 1
                if newest is None or o["LastModified"] > newest["LastModified"]:
                    newest = o
            if time.monotonic() > deadline:
                raise ProbeError(
                    f"listing stopped after {count} objects: slower than the check's timeout",
                    hint="narrow newest: to a smaller prefix, or raise timeout:",
                )

    _call(t, scan, "listing")
    obs: dict[str, Any] = {
        "ok": count > 0,
        "object_count": count,
        "newest_key": None,
        "age": None,
        "size": None,
        "last_modified": None,
    }
    if newest is not None:
        modified: dt.datetime = newest["LastModified"]
        age = (dt.datetime.now(dt.UTC) - modified).total_seconds() * 1000
        obs.update(
            newest_key=newest["Key"],
            age=round(max(age, 0.0), 3),
            size=newest["Size"],
            last_modified=modified.isoformat(),
        )
    obs["duration"] = _ms(start)
    return obs


def _call(t: _Target, fn: Any, what: str) -> Any:
    """Run one S3 request, turning botocore's errors into ProbeErrors that name no endpoint."""
    import botocore.exceptions as bx

    try:
        return fn()
    except bx.ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code", "?"))
        msg = f"{what} s3://{t.bucket} failed: {code}"
        if code in ("NoSuchBucket", "404"):
            raise ProbeError(
                msg, hint="the bucket does not exist; check bucket: and endpoint:", retryable=False
            ) from None
        if code in (
            "AccessDenied",
            "403",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidToken",
            "ExpiredToken",
        ):
            raise ProbeError(
                msg, hint="check the access key, secret and the bucket policy", retryable=False
            ) from None
        raise ProbeError(f"{msg}: {err.get('Message', '')}".rstrip(": ")) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError):
        raise ProbeError(
            "no S3 credentials found",
            hint="set access_key_id: and secret_access_key:",
            retryable=False,
        ) from None
    except (bx.ConnectTimeoutError, bx.ReadTimeoutError):
        raise ProbeError(
            f"{what} s3://{t.bucket} timed out", hint="the endpoint is slow or unreachable"
        ) from None
    except (bx.EndpointConnectionError, bx.ConnectionError):
        raise ProbeError(
            f"cannot reach the S3 endpoint for s3://{t.bucket}",
            hint="is the endpoint up, and endpoint: right?",
        ) from None
    except bx.ParamValidationError:
        raise ProbeError(
            f"invalid S3 request for bucket {t.bucket!r}",
            hint="check the bucket name",
            retryable=False,
        ) from None
    except bx.BotoCoreError as e:
        raise ProbeError(f"{what} s3://{t.bucket} failed: {type(e).__name__}") from None


KIND = S3Check()
