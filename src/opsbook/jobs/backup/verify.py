"""``backup verify``: checksums, decryptability and ``pg_restore --list``, object by object."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.backups import Backup
from ...config.load import Config
from ...config.secrets import Secret, reveal
from ...errors import OpsbookError, VerifyFailed
from .catalog import read_catalog
from .fetch import (
    dump_file_path,
    fetch,
    pg_restore_list,
    pg_restore_list_dir,
    to_file,
    unpack,
    unpack_object,
    workdir_for,
)
from .manifest import DIR_PREFIX, Manifest
from .pipeline import backup_spec
from .storage import Storage, storage_for
from .tools import find, identity_file

SCHEMA = "opsbook.backup-verify/1"


@dataclass
class ObjectCheck:
    name: str
    location: str
    checksum: bool = False
    decrypt: bool = False
    archive: bool = False
    entries: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.checksum and self.decrypt and self.archive and not self.error

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "ok": self.ok, "checksum": self.checksum,
                "decrypt": self.decrypt, "archive": self.archive, "entries": self.entries, "error": self.error}


@dataclass
class VerifyResult:
    name: str
    id: str
    created_at: str
    objects: list[ObjectCheck] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.objects) and all(o.ok for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "ok": self.ok, "name": self.name, "id": self.id,
                "created_at": self.created_at, "duration_ms": self.duration_ms,
                "objects": [o.to_dict() for o in self.objects]}


@contextmanager
def identity_path(secret: Secret | None, path: str | None, where: str) -> Iterator[str | None]:
    """An age identity file: ``--identity FILE`` as given, else the config's secret in a 0600 temp file."""
    if path:
        yield path
        return
    value = reveal(secret, where)
    if value is None:
        yield None
        return
    with identity_file(value) as p:
        yield p


def verify_backup(config: Config, name: str, bid: str | None = None, identity: str | None = None) -> VerifyResult:
    return verify_stored(name, backup_spec(config, name), storage_for(config, name), bid, identity)


def verify_stored(name: str, spec: Backup, storage: Storage, bid: str | None = None,
                  identity: str | None = None) -> VerifyResult:
    """``verify_backup`` of backup ``name`` (its ``spec``) kept in ``storage``."""
    catalog = read_catalog(storage, name)
    m = catalog.get(bid) if bid else catalog.latest()
    if m is None:
        raise VerifyFailed(f"no backups of {name} at {storage.location}",
                           hint=f"run `opsbook backup run {name}` first")
    t0 = time.perf_counter()
    result = VerifyResult(name, m.id, m.created_at)
    work = workdir_for()
    try:
        with identity_path(spec.encrypt.identity if spec.encrypt else None, identity,
                           f"backups.{name}.encrypt.identity") as ident:
            if m.directory:
                _verify_directory(storage, m, ident, work, result, spec.bin_dir)
                return _done(result, t0)
            for obj in m.objects:
                check = ObjectCheck(obj.name, storage.where(m.id, obj.name))
                result.objects.append(check)
                try:
                    path = fetch(storage, m, obj, work)
                    check.checksum = True
                    _archive(path, obj.name, m, ident, work, check, spec.bin_dir)
                    check.decrypt = check.archive = True
                except VerifyFailed as e:
                    check.error = e.message
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _done(result, t0)


def _done(result: VerifyResult, t0: float) -> VerifyResult:
    result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
    return result


def _verify_directory(storage: Storage, m: Manifest, ident: str | None, work: Path, result: VerifyResult,
                      bin_dir: str | None) -> None:
    """Every object fetched (size, sha256), decrypted and decompressed into one directory, then
    ``pg_restore --list`` of that directory: the archive check covers all the objects together."""
    dump = work / "dump"
    dump.mkdir()
    failed: list[str] = []
    for obj in m.objects:
        check = ObjectCheck(obj.name, storage.where(m.id, obj.name))
        result.objects.append(check)

        def fetched(check: ObjectCheck = check) -> None:
            check.checksum = True

        try:
            unpack_object(storage, m, obj, work, ident, dump_file_path(dump, obj), fetched)
            check.decrypt = True
        except VerifyFailed as e:
            check.error = e.message
            failed.append(obj.name)
    if failed:
        for c in result.objects:
            if not c.error:
                c.error = f"pg_restore --list not run: {', '.join(failed)} failed"
        return
    try:
        entries = pg_restore_list_dir(find("pg_restore", bin_dir), dump)
    except VerifyFailed as e:
        for c in result.objects:
            c.error = e.message
        return
    for c in result.objects:
        c.archive = True
        c.entries = entries if c.name.startswith(f"{DIR_PREFIX}toc.dat") else 0


def _archive(path: Path, obj_name: str, m: Manifest, ident: str | None, work: Path,
             check: ObjectCheck, bin_dir: str | None) -> None:
    obj = next(o for o in m.objects if o.name == obj_name)
    if obj.content == "pg_dump-custom":
        listing = work / "toc.txt"
        unpack(path, obj, m, ident, pg_restore_list(find("pg_restore", bin_dir), listing))
        check.entries = sum(1 for ln in listing.read_text().splitlines() if ln and not ln.startswith(";"))
        return
    plain = work / "verify.sqlite"
    unpack(path, obj, m, ident, to_file(plain))
    try:
        with sqlite3.connect(f"file:{plain}?mode=ro", uri=True) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            check.entries = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError as e:
        raise VerifyFailed(f"object {obj_name} is not a SQLite database: {e}") from None
    finally:
        plain.unlink(missing_ok=True)
    if rows != [("ok",)]:
        raise VerifyFailed(f"object {obj_name}: PRAGMA quick_check: {rows[0][0]}")


__all__ = ["OpsbookError", "VerifyResult", "identity_path", "verify_backup", "verify_stored"]
