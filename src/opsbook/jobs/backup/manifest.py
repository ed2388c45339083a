"""The manifest: what a backup holds and how to prove it (checksums, versions, row counts).

It is JSON, written last, and the only thing ``backup list`` trusts: an id without a
manifest that parses is not a backup.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = "opsbook.backup-manifest/1"
DIR_PREFIX = "dump/"  # format: directory stores <id>/dump/<file>.zst(.age), one object per file

# A manifest comes from the bucket, which is a trust boundary: whoever can write there must not be
# able to make opsbook write a file outside its work directory, or allocate without bound.
MAX_MANIFEST_BYTES = 64 << 20  # a directory dump of 100,000 tables is ~40 MB of manifest
MAX_OBJECTS = 200_000
MAX_OBJECT_SIZE = 1 << 50  # 1 PiB: larger is a lie, not a backup
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}")  # one path component, no leading dot
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENTS = {"postgres": ("pg_dump-custom", "pg_dump-directory"), "sqlite": ("sqlite",)}


def new_id(now: datetime) -> str:
    """``20261123T030000Z-3f9a``: sortable by time, unique across concurrent runs."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def dump_object_name(file: str, encrypted: bool) -> str:
    """``toc.dat`` -> ``dump/toc.dat.zst.age``: one stored object per file of a directory dump."""
    return f"{DIR_PREFIX}{file}.zst" + (".age" if encrypted else "")


def dump_file_name(obj: str) -> str:
    """The inverse of :func:`dump_object_name`."""
    name = obj.removeprefix(DIR_PREFIX)
    return name.removesuffix(".age").removesuffix(".zst")


def unsafe_name(name: Any) -> str | None:
    """Why ``name`` is not one plain relative path component, or None when it is."""
    if not isinstance(name, str) or not name:
        return "is empty or not a string"
    for bad, why in (("\x00", "contains NUL"), ("\\", "contains a backslash"), ("/", "contains '/'")):
        if bad in name:
            return why
    if name in (".", ".."):
        return f"is {name!r}"
    if not _PLAIN.fullmatch(name):
        return "is not a plain name (letters, digits, '._+-', not starting with '.', at most 200 characters)"
    return None


def unsafe_object_name(name: Any, directory: bool) -> str | None:
    """Why an object name may not become a path: absolute, ``..``, backslash, NUL, or (for a
    directory dump) anything but ``dump/<plain file>.zst[.age]``."""
    if not isinstance(name, str) or not name:
        return "is empty or not a string"
    if name.startswith("/"):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "contains '..'"
    parts = name.split("/")
    if directory:
        if len(parts) != 2 or f"{parts[0]}/" != DIR_PREFIX:
            return f"is not {DIR_PREFIX}<file> (a directory dump's object)"
        return unsafe_name(parts[1]) or unsafe_name(dump_file_name(name))
    if len(parts) != 1:
        return "contains '/'"
    return unsafe_name(name)


def inside(base: Path, name: str) -> Path:
    """``base / name``, refusing (ValueError) anything that resolves outside ``base``: a second
    line behind the manifest checks, in case a name slips through them."""
    path = base / name
    root = base.resolve()
    if not path.resolve().is_relative_to(root) or path.resolve() == root:
        raise ValueError(f"{name!r} resolves outside {base}")
    return path


@dataclass
class StoredObject:
    name: str
    size: int
    sha256: str
    content: str  # pg_dump-custom | pg_dump-directory | sqlite
    compression: str = "zstd"
    encryption: str | None = None  # "age" or None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableSnapshot:
    rows: int
    data: bool = True  # False: exclude_table_data, the restored table is empty
    max_pk: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Manifest:
    id: str
    backup: str
    source_kind: str  # postgres | sqlite
    created_at: str  # the snapshot's time (ISO 8601, UTC)
    finished_at: str
    objects: list[StoredObject]
    tables: dict[str, TableSnapshot]
    recipients: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def directory(self) -> bool:
        """A ``format: directory`` dump: every object is one file of pg_dump's directory."""
        return any(o.content == "pg_dump-directory" for o in self.objects)

    @property
    def encrypted(self) -> bool:
        return any(o.encryption for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "id": self.id, "backup": self.backup, "source_kind": self.source_kind,
            "created_at": self.created_at, "finished_at": self.finished_at,
            "objects": [o.to_dict() for o in self.objects],
            "snapshot": {"taken_at": self.created_at, "tables": {k: v.to_dict() for k, v in self.tables.items()}},
            "recipients": self.recipients, "versions": self.versions, "options": self.options,
            "timings_ms": self.timings_ms,
        }

    def dumps(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False).encode()

    @classmethod
    def loads(cls, data: bytes) -> Manifest:
        """Parse and validate a manifest; raises ValueError saying why (such a manifest is not a backup)."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"manifest is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
        try:
            d = json.loads(data)
            if d.get("schema") != SCHEMA:
                raise ValueError(f"unknown manifest schema {d.get('schema')!r}")
            m = cls(
                id=d["id"], backup=d["backup"], source_kind=d["source_kind"],
                created_at=d["created_at"], finished_at=d["finished_at"],
                objects=[StoredObject(**o) for o in d["objects"]],
                tables={k: TableSnapshot(**v) for k, v in d["snapshot"]["tables"].items()},
                recipients=list(d.get("recipients", [])), versions=dict(d.get("versions", {})),
                options=dict(d.get("options", {})), timings_ms=dict(d.get("timings_ms", {})),
            )
            datetime.fromisoformat(m.created_at)
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"malformed manifest: {e}") from None
        m.validate()
        return m

    def validate(self) -> None:
        """Every field that becomes a path, a size or a loop bound is checked (ValueError)."""
        if why := unsafe_name(self.id):
            raise ValueError(f"manifest id {self.id!r} {why}")
        if self.source_kind not in _CONTENTS:
            raise ValueError(f"unknown source_kind {self.source_kind!r}")
        if not self.objects or len(self.objects) > MAX_OBJECTS:
            raise ValueError(f"a backup has 1 to {MAX_OBJECTS} objects, this manifest lists {len(self.objects)}")
        directory = self.directory
        if not directory and len(self.objects) != 1:
            raise ValueError(f"a {self.source_kind} backup that is not a directory dump has one object")
        seen: set[str] = set()
        for n, o in enumerate(self.objects):
            self._validate_object(n, o, directory)
            key = dump_file_name(o.name) if directory else o.name
            if key in seen:
                raise ValueError(f"objects[{n}]: {o.name!r} is listed twice")
            seen.add(key)
        for t, snap in self.tables.items():
            if not isinstance(t, str) or not _count(snap.rows):
                raise ValueError(f"snapshot.tables[{t!r}].rows is not a count")

    def _validate_object(self, n: int, o: StoredObject, directory: bool) -> None:
        where = f"objects[{n}]"
        if why := unsafe_object_name(o.name, directory):
            raise ValueError(f"{where}: object name {o.name!r} {why}")
        if o.content not in _CONTENTS[self.source_kind] or directory != (o.content == "pg_dump-directory"):
            raise ValueError(f"{where}: content {o.content!r} does not fit a {self.source_kind} backup")
        if not _count(o.size) or o.size > MAX_OBJECT_SIZE:
            raise ValueError(f"{where}: size {o.size!r} is not a byte count")
        if not isinstance(o.sha256, str) or not _SHA256.fullmatch(o.sha256):
            raise ValueError(f"{where}: sha256 is not 64 lowercase hex digits")
        if o.compression != "zstd" or o.encryption not in (None, "age"):
            raise ValueError(f"{where}: unknown compression/encryption {o.compression!r}/{o.encryption!r}")


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
