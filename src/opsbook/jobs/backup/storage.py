"""Where backups live: a local directory or an S3 bucket, behind one small interface.

Layout, both kinds: ``<prefix><backup name>/<id>/<object>`` and ``.../<id>/manifest.json``.
A backup is visible only once its manifest exists, and the manifest is written last:
locally the objects go into ``.<id>.partial/`` which is renamed to ``<id>/`` after the
manifest is in it; on S3 the objects are uploaded (multipart, streamed) before the manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from ...config.backups import Backup
from ...config.resources import S3Resource
from ...config.secrets import reveal
from ...errors import StorageError
from ...fsmode import open_private, private_dir
from .manifest import MAX_MANIFEST_BYTES, inside

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST = "manifest.json"
MANIFEST_CAP = MAX_MANIFEST_BYTES + 1  # read no more than this, so a huge "manifest" is refused, not read
CHUNK = 1 << 20
T = TypeVar("T")


# Dirty pages are handed to the disk every this many bytes while the dump still runs: the
# final fsync then waits for the last few MB only (for a 180 MB object it took 0.6 s alone,
# ~10% of a whole backup, when the kernel had been left to write everything at the end).
WRITEBACK = 16 << 20


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start (not wait for) writeback of a written range: Linux's POSIX_FADV_DONTNEED does that
    for dirty pages, then drops the clean ones (a backup is not read again soon). Where it is
    missing the final fsync does all the work, as before."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


class Storage(Protocol):
    location: str

    def preflight(self) -> None: ...
    def write_object(self, bid: str, obj: str, stream: IO[bytes]) -> None: ...
    def commit(self, bid: str, manifest: bytes) -> None: ...
    def abort(self, bid: str) -> None: ...
    def ids(self) -> list[str]: ...
    def read_manifest(self, bid: str) -> bytes | None: ...
    def open_object(self, bid: str, obj: str) -> IO[bytes]: ...
    def object_size(self, bid: str, obj: str) -> int: ...
    def delete(self, bid: str) -> None: ...
    def where(self, bid: str, obj: str = "") -> str: ...
    def stale_partials(self, older_than: float, now: float, remove: bool) -> list[str]: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def where(self, bid: str, obj: str = "") -> str:
        return str(self.root / bid / obj) if obj else str(self.root / bid)

    def _partial(self, bid: str) -> Path:
        return self.root / f".{bid}.partial"

    def preflight(self) -> None:
        try:
            private_dir(self.root)  # unencrypted backups are a copy of the database: dirs 0700, files 0600
        except OSError as e:
            raise StorageError(f"cannot create {self.root}: {e.strerror}", retryable=False) from None
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable", retryable=False)

    def write_object(self, bid: str, obj: str, stream: IO[bytes]) -> None:
        d = self._partial(bid)
        private_dir((d / obj).parent)  # format: directory objects are dump/<file>
        with open_private(d / obj, "wb") as f:
            flushed = written = 0
            while chunk := stream.read(CHUNK):
                f.write(chunk)
                written += len(chunk)
                if written - flushed >= WRITEBACK:
                    f.flush()
                    _start_writeback(f.fileno(), flushed, written - flushed)
                    flushed = written
            f.flush()
            os.fsync(f.fileno())

    def commit(self, bid: str, manifest: bytes) -> None:
        d = self._partial(bid)
        with open_private(d / MANIFEST, "wb") as f:
            f.write(manifest)
            f.flush()
            os.fsync(f.fileno())
        os.rename(d, self.root / bid)  # the moment the backup becomes visible
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abort(self, bid: str) -> None:
        shutil.rmtree(self._partial(bid), ignore_errors=True)

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())

    def read_manifest(self, bid: str) -> bytes | None:
        try:
            with open(self.root / bid / MANIFEST, "rb") as f:
                return f.read(MANIFEST_CAP)
        except OSError:
            return None

    def _object(self, bid: str, obj: str) -> Path:
        """``<root>/<id>/<obj>``, refusing a name that leads out of the backup's directory."""
        try:
            return inside(self.root / bid, obj)
        except ValueError as e:
            raise StorageError(f"refusing to read object {obj!r} of {bid}: {e}", retryable=False) from None

    def open_object(self, bid: str, obj: str) -> IO[bytes]:
        path = self._object(bid, obj)
        try:
            return open(path, "rb")
        except OSError as e:
            raise StorageError(f"cannot read {self.where(bid, obj)}: {e.strerror}", retryable=False) from None

    def object_size(self, bid: str, obj: str) -> int:
        try:
            return self._object(bid, obj).stat().st_size
        except (OSError, StorageError):
            return -1

    def delete(self, bid: str) -> None:
        d = self.root / bid
        (d / MANIFEST).unlink(missing_ok=True)  # invisible first, then the objects
        shutil.rmtree(d, ignore_errors=True)

    def stale_partials(self, older_than: float, now: float, remove: bool) -> list[str]:
        """``.<id>.partial/`` directories nothing has written to for ``older_than`` seconds before
        ``now`` (a Unix time): what a ``kill -9`` leaves. A run still writing touches its files, so
        it is never taken for dead; with ``remove`` they are deleted."""
        if not self.root.is_dir():
            return []
        stale = []
        for d in sorted(self.root.glob(".*.partial")):
            last = _last_write(d)
            if last is not None and now - last > older_than:
                stale.append(d.name)
                if remove:
                    shutil.rmtree(d, ignore_errors=True)
        return stale


def _last_write(d: Path) -> float | None:
    """The newest mtime of ``d`` and everything in it (None: not a directory, or gone meanwhile)."""
    try:
        if d.is_symlink() or not d.is_dir():
            return None
        return max([d.stat().st_mtime, *(p.lstat().st_mtime for p in d.rglob("*"))])
    except OSError:
        return None


class S3Storage:
    def __init__(self, res: S3Resource, prefix: str, path: str) -> None:
        self.bucket = res.bucket
        self.base = prefix
        self.location = f"s3://{res.bucket}/{prefix}"
        self._res, self._path = res, path
        self._client: S3Client | None = None

    def where(self, bid: str, obj: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(bid, obj)}"

    def _key(self, bid: str, obj: str) -> str:
        return f"{self.base}{bid}/{obj}"

    def client(self, attempts: int = 3) -> S3Client:
        if self._client is not None and attempts == 3:
            return self._client
        import boto3
        from botocore.config import Config

        r = self._res
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=reveal(r.endpoint, f"{self._path}.endpoint"),
            region_name=r.region,
            aws_access_key_id=reveal(r.access_key_id, f"{self._path}.access_key_id"),
            aws_secret_access_key=reveal(r.secret_access_key, f"{self._path}.secret_access_key"),
            config=Config(connect_timeout=10, read_timeout=120, s3={"addressing_style": "path"},
                          retries={"max_attempts": attempts, "mode": "standard"}),
        )
        if attempts == 3:
            self._client = client
        return client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        import botocore.exceptions as bx

        try:
            return fn()
        except bx.ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", "?"))
            denied = code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch")
            missing = code in ("NoSuchBucket",)
            raise StorageError(
                f"{what} s3://{self.bucket} failed: {code}",
                hint="check the bucket name" if missing else
                "check the access key, secret and bucket policy" if denied else "retry later",
                retryable=not (denied or missing),
            ) from None
        except (bx.NoCredentialsError, bx.PartialCredentialsError):
            raise StorageError("no S3 credentials found", retryable=False,
                               hint="set access_key_id: and secret_access_key: on the s3 resource") from None
        except (bx.EndpointConnectionError, bx.ConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError):
            raise StorageError(f"cannot reach the S3 endpoint of s3://{self.bucket} while {what}",
                               hint="is the endpoint up? the run can be retried; earlier backups are untouched",
                               retryable=True) from None
        except bx.BotoCoreError as e:
            raise StorageError(f"{what} s3://{self.bucket} failed: {type(e).__name__}") from None

    def preflight(self) -> None:
        self._call("checking", lambda: self.client(attempts=1).head_bucket(Bucket=self.bucket))

    def write_object(self, bid: str, obj: str, stream: IO[bytes]) -> None:
        from boto3.s3.transfer import TransferConfig

        # upload_fileobj reads a non-seekable stream part by part (multipart), and aborts the
        # multipart upload when reading raises, so a failed dump leaves no object behind
        cfg = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20,
                             max_concurrency=4, use_threads=True)
        key = self._key(bid, obj)
        self._call("uploading to", lambda: self.client().upload_fileobj(stream, self.bucket, key, Config=cfg))

    def commit(self, bid: str, manifest: bytes) -> None:
        key = self._key(bid, "manifest.json")
        self._call("writing the manifest to", lambda: self.client().put_object(
            Bucket=self.bucket, Key=key, Body=manifest, ContentType="application/json"))

    def abort(self, bid: str) -> None:
        prefix = self._key(bid, "")
        c = self.client()
        try:
            for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
                for u in page.get("Uploads", []):
                    c.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])
            self._delete_prefix(prefix)
        except Exception:  # cleanup after a failure must not hide the failure itself
            pass

    def _delete_prefix(self, prefix: str) -> None:
        c = self.client()
        keys = [o["Key"] for page in c.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            c.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})

    def ids(self) -> list[str]:
        def scan() -> list[str]:
            out = []
            for page in self.client().get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.base, Delimiter="/"):
                for p in page.get("CommonPrefixes", []):
                    out.append(p["Prefix"][len(self.base):].rstrip("/"))
            return sorted(out)

        return self._call("listing", scan)

    def read_manifest(self, bid: str) -> bytes | None:
        import botocore.exceptions as bx

        def get() -> bytes | None:
            try:
                stream = self.client().get_object(Bucket=self.bucket, Key=self._key(bid, MANIFEST))["Body"]
                try:
                    body: bytes = stream.read(MANIFEST_CAP)
                finally:
                    stream.close()
                return body
            except bx.ClientError as e:
                if str(e.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
                    return None  # an upload in flight or a failed run: not a backup
                raise

        return self._call("reading", get)

    def open_object(self, bid: str, obj: str) -> IO[bytes]:
        body: Any = self._call("reading", lambda: self.client().get_object(
            Bucket=self.bucket, Key=self._key(bid, obj))["Body"])
        return body  # type: ignore[no-any-return]

    def object_size(self, bid: str, obj: str) -> int:
        import botocore.exceptions as bx

        try:
            return int(self.client().head_object(Bucket=self.bucket, Key=self._key(bid, obj))["ContentLength"])
        except bx.ClientError:
            return -1

    def delete(self, bid: str) -> None:
        c = self.client()
        self._call("deleting from", lambda: c.delete_object(Bucket=self.bucket, Key=self._key(bid, MANIFEST)))
        self._call("deleting from", lambda: self._delete_prefix(self._key(bid, "")))

    def stale_partials(self, older_than: float, now: float, remove: bool) -> list[str]:
        """S3 keeps no partial directory: a failed run aborts its upload, and what a ``kill -9``
        leaves (an incomplete multipart upload) is for the bucket's AbortIncompleteMultipartUpload
        lifecycle rule."""
        return []


def _norm(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def storage_for(config: Any, name: str) -> Storage:
    """The storage of ``backups.<name>`` of a loaded Config (see ``storage_at``)."""
    return storage_at(name, config.model.backups[name], config.resources, config.base_dir)


def storage_at(name: str, b: Backup, resources: Mapping[str, Any], base_dir: Path) -> Storage:
    """The storage of backup ``name``: an s3 resource named by ``to:``, else a local directory
    (relative to ``base_dir``)."""
    target = b.to if b.to is not None else b.path
    assert target is not None  # the model has exactly one of to: and path:
    res = resources.get(target) if b.to is not None else None
    if isinstance(res, S3Resource):
        return S3Storage(res, _norm(res.prefix) + _norm(b.prefix) + f"{name}/", f"resources.{b.to}")
    root = Path(os.path.expanduser(target))
    if not root.is_absolute():
        root = base_dir / root
    base = root / b.prefix.strip("/") if b.prefix.strip("/") else root
    return LocalStorage(base / name)
