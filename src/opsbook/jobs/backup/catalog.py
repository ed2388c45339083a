"""``backup list``: the catalog is the destination itself, so a fresh machine can list and restore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError, VerifyFailed
from .manifest import Manifest
from .storage import Storage

LIST_SCHEMA = "opsbook.backup-list/1"


@dataclass
class Catalog:
    name: str
    location: str
    backups: list[Manifest]  # oldest first
    ignored: list[str] = field(default_factory=list)  # ids without a manifest that parses
    invalid: dict[str, str] = field(default_factory=dict)  # of those, ids whose manifest is rejected: why

    def latest(self) -> Manifest | None:
        """The newest backup; a rejected manifest newer than it makes "the latest" unusable (VerifyFailed)."""
        newest = self.backups[-1] if self.backups else None
        bad = max(self.invalid, default=None)
        if bad is not None and (newest is None or bad > newest.id):
            self._unusable(bad)
        return newest

    def get(self, bid: str) -> Manifest:
        ids = [m.id for m in self.backups] + list(self.invalid)
        hits = [i for i in ids if i == bid] or [i for i in ids if i.startswith(bid)]
        if len(hits) != 1:
            raise UsageError(
                f"{'no' if not hits else 'more than one'} backup of {self.name} with id {bid!r}",
                hint=f"`opsbook backup list {self.name}` shows the ids",
            )
        if hits[0] in self.invalid:
            self._unusable(hits[0])
        return next(m for m in self.backups if m.id == hits[0])

    def _unusable(self, bid: str) -> None:
        raise VerifyFailed(
            f"backup {bid} of {self.name} is unusable: its manifest is rejected: {self.invalid[bid]}",
            hint="manifest.json was damaged or changed after the backup was written (check who can write "
                 f"to {self.location}); nothing of it was fetched. Pick another backup from `opsbook backup list "
                 f"{self.name}`",
        )

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
            "invalid": [{"id": i, "error": why} for i, why in sorted(self.invalid.items())],
        }


def read_catalog(storage: Storage, name: str) -> Catalog:
    found: list[Manifest] = []
    ignored: list[str] = []
    invalid: dict[str, str] = {}
    for bid in storage.ids():
        raw = storage.read_manifest(bid)
        if raw is None:
            ignored.append(bid)  # an upload in flight, or the leftovers of a killed run
            continue
        try:
            m = Manifest.loads(raw)
            if m.id != bid:
                raise ValueError(f"its id {m.id!r} is not the id it is stored under")
        except ValueError as e:
            ignored.append(bid)
            invalid[bid] = str(e)
            continue
        found.append(m)
    found.sort(key=lambda m: (m.created_at, m.id))
    return Catalog(name, storage.location, found, ignored, invalid)
