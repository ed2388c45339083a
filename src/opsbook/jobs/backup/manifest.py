"""The manifest: what a backup holds and how to prove it (checksums, versions, row counts).

It is JSON, written last, and the only thing ``backup list`` trusts: an id without a
manifest that parses is not a backup.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

SCHEMA = "opsbook.backup-manifest/1"
DIR_PREFIX = "dump/"  # format: directory stores <id>/dump/<file>.zst(.age), one object per file


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
        """Parse a manifest; raises ValueError (any malformed manifest is not a backup)."""
        try:
            d = json.loads(data)
            if d.get("schema") != SCHEMA:
                raise ValueError(f"unknown manifest schema {d.get('schema')!r}")
            return cls(
                id=d["id"], backup=d["backup"], source_kind=d["source_kind"],
                created_at=d["created_at"], finished_at=d["finished_at"],
                objects=[StoredObject(**o) for o in d["objects"]],
                tables={k: TableSnapshot(**v) for k, v in d["snapshot"]["tables"].items()},
                recipients=list(d.get("recipients", [])), versions=dict(d.get("versions", {})),
                options=dict(d.get("options", {})), timings_ms=dict(d.get("timings_ms", {})),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise ValueError(f"malformed manifest: {e}") from None
