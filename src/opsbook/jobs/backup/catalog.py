"""``backup list``: the catalog is the destination itself, so a fresh machine can list and restore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError
from .manifest import Manifest
from .storage import Storage

LIST_SCHEMA = "opsbook.backup-list/1"


@dataclass
class Catalog:
    name: str
    location: str
    backups: list[Manifest]  # oldest first
    ignored: list[str] = field(default_factory=list)  # ids without a manifest that parses

    def latest(self) -> Manifest | None:
        return self.backups[-1] if self.backups else None

    def get(self, bid: str) -> Manifest:
        hits = [m for m in self.backups if m.id == bid] or [m for m in self.backups if m.id.startswith(bid)]
        if len(hits) != 1:
            raise UsageError(
                f"{'no' if not hits else 'more than one'} backup of {self.name} with id {bid!r}",
                hint=f"`opsbook backup list {self.name}` shows the ids",
            )
        return hits[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": LIST_SCHEMA, "name": self.name, "location": self.location,
            "count": len(self.backups),
            "backups": [
                {"id": m.id, "created_at": m.created_at, "size": m.size, "encrypted": m.encrypted,
                 "source_kind": m.source_kind, "tables": len(m.tables),
                 "rows": sum(t.rows for t in m.tables.values() if t.data),
                 "objects": [o.to_dict() for o in m.objects]}
                for m in reversed(self.backups)
            ],
            "ignored": self.ignored,
        }


def read_catalog(storage: Storage, name: str) -> Catalog:
    found: list[Manifest] = []
    ignored: list[str] = []
    for bid in storage.ids():
        raw = storage.read_manifest(bid)
        if raw is None:
            ignored.append(bid)
            continue
        try:
            m = Manifest.loads(raw)
        except ValueError:
            ignored.append(bid)
            continue
        if m.id != bid:
            ignored.append(bid)
            continue
        found.append(m)
    found.sort(key=lambda m: (m.created_at, m.id))
    return Catalog(name, storage.location, found, ignored)
