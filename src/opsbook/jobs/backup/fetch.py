"""Get a stored object back: fetch it (checking size and sha256), then decrypt and decompress.

Kept as two phases so a drill can time them apart and name a corrupt object before any
decryption is attempted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ...errors import BackupFailed, IdentityMismatch, UsageError, VerifyFailed
from .manifest import Manifest, StoredObject, dump_file_name, inside
from .storage import CHUNK, LocalStorage, Storage
from .stream import Chain
from .tools import find, stderr_tail


def fetch(storage: Storage, m: Manifest, obj: StoredObject, workdir: Path,
          on_bytes: Callable[[int], None] | None = None) -> Path:
    """A local path holding ``obj``, its size and sha256 checked against the manifest.

    A local destination is read in place; an S3 object is downloaded into a new file of
    ``workdir`` whose name owes nothing to the manifest, reading at most one byte more than
    the manifest's size (a bucket serving more is refused without filling the disk).
    """
    where = storage.where(m.id, obj.name)
    local = isinstance(storage, LocalStorage)
    if local:
        path = Path(where)
    else:
        fd, name = tempfile.mkstemp(prefix="object-", dir=workdir)
        os.close(fd)
        path = Path(name)
    sha = hashlib.sha256()
    size = 0
    src = storage.open_object(m.id, obj.name)
    try:
        out = None if local else open(path, "wb")  # noqa: SIM115 - closed below
        try:
            while size <= obj.size and (chunk := src.read(min(CHUNK, obj.size + 1 - size))):
                sha.update(chunk)
                size += len(chunk)
                if out:
                    out.write(chunk)
                if on_bytes:
                    on_bytes(size)
        finally:
            if out:
                out.close()
    finally:
        src.close()
    if size != obj.size or sha.hexdigest() != obj.sha256:
        if not local:
            path.unlink(missing_ok=True)
        raise VerifyFailed(
            f"object {obj.name} of backup {m.id} is corrupt: "
            + (f"more bytes than the manifest's {obj.size}" if size > obj.size
               else f"size {size} != manifest {obj.size}" if size != obj.size
               else f"sha256 {sha.hexdigest()[:16]}... != manifest {obj.sha256[:16]}..."),
            hint=f"the stored bytes at {where} changed after the backup was written; use another backup",
        )
    return path


def dump_file_path(directory: Path, obj: StoredObject) -> Path:
    """Where one object of a directory dump is unpacked: a plain file inside ``directory``, or VerifyFailed."""
    try:
        return inside(directory, dump_file_name(obj.name))
    except ValueError as e:
        raise VerifyFailed(f"object {obj.name}: refusing to unpack it: {e}") from None


def unpack(path: Path, obj: StoredObject, m: Manifest, identity_path: str | None,
           consume: Callable[[IO[bytes]], None], bin_dir: str | None = None) -> None:
    """Stream ``age -d | zstd -d`` of ``path`` into ``consume``; everything is read to the end."""
    cmds: list[tuple[str, list[str]]] = []
    if obj.encryption == "age":
        if identity_path is None:
            raise UsageError(f"backup {m.id} is encrypted and no age identity was given",
                             hint="set identity: {file: ~/.config/opsbook/age.key} or pass --identity FILE")
        cmds.append(("age", [find("age"), "--decrypt", "-i", identity_path]))
    cmds.append(("zstd", [find("zstd"), "-d", "-c", "-q"]))
    with open(path, "rb") as f:
        chain = Chain(cmds, stdin=f)
    try:
        consumer_error: VerifyFailed | None = None
        try:
            consume(chain.stdout)
        except VerifyFailed as e:
            consumer_error = e  # but a failed decryption upstream is the better explanation
        while chain.stdout.read(CHUNK):  # a consumer may stop early; decrypt to the end anyway
            pass
        try:
            chain.finish()
        except BackupFailed as e:
            if "no identity matched" in e.message:
                raise IdentityMismatch(
                    f"the age identity cannot decrypt backup {m.id}: it matches none of its recipients",
                    hint="use the identity whose public key (age-keygen -y FILE) is one of: "
                         + ", ".join(m.recipients),
                ) from None
            raise VerifyFailed(f"object {obj.name} of backup {m.id} does not decrypt/decompress: {e.message}",
                               hint="the object is damaged, or it is not what the manifest says") from None
        if consumer_error is not None:
            raise consumer_error
    finally:
        chain.close()


def to_file(dest: Path) -> Callable[[IO[bytes]], None]:
    def consume(stream: IO[bytes]) -> None:
        with open(dest, "wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)

    return consume


def pg_restore_list(pg_restore: str, listing: Path) -> Callable[[IO[bytes]], None]:
    """Feed the plain dump to ``pg_restore --list``; it reads only the table of contents."""

    def consume(stream: IO[bytes]) -> None:
        with open(listing, "wb") as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen([pg_restore, "--list"], stdin=subprocess.PIPE, stdout=out, stderr=err)
            assert p.stdin is not None
            try:
                while chunk := stream.read(CHUNK):
                    p.stdin.write(chunk)
            except BrokenPipeError:
                pass  # it has read the table of contents and left
            with contextlib.suppress(BrokenPipeError):
                p.stdin.close()
            p.wait()
            if p.returncode != 0:
                err.seek(0)
                raise VerifyFailed(f"pg_restore --list rejects the dump: {stderr_tail(err.read())}")

    return consume


def pg_restore_list_dir(pg_restore: str, directory: Path) -> int:
    """``pg_restore --list`` of an unpacked directory dump; the number of entries in its TOC."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.run([pg_restore, "--list", str(directory)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=err)
        if p.returncode != 0:
            err.seek(0)
            raise VerifyFailed(f"pg_restore --list rejects the directory dump: {stderr_tail(err.read())}")
    return sum(1 for ln in p.stdout.decode("utf-8", "replace").splitlines() if ln and not ln.startswith(";"))


def unpack_object(storage: Storage, m: Manifest, obj: StoredObject, work: Path, identity_path: str | None,
                  dest: Path, fetched: Callable[[], None] | None = None) -> None:
    """Fetch one object (checked), decrypt + decompress it into ``dest``, drop the downloaded copy."""
    path = fetch(storage, m, obj, work)
    try:
        if fetched:
            fetched()
        unpack(path, obj, m, identity_path, to_file(dest))
    finally:
        if path.parent == work:
            path.unlink(missing_ok=True)


def workdir_for(base: str | None = None) -> Path:
    return Path(tempfile.mkdtemp(prefix="opsbook-restore-", dir=base or os.environ.get("OPSBOOK_TMPDIR")))
