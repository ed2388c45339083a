"""``backup prune``, for the CLI and for the daemon after each successful backup: apply ``keep:``
and remove the partial directories that killed runs left behind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...config.backups import Backup
from ...config.load import Config
from ...errors import UsageError
from .catalog import read_catalog
from .pipeline import backup_spec, remove_stale_partials
from .retention import SCHEMA, Item, plan
from .storage import Storage, storage_for


def prune(config: Config, name: str, verified: set[str], now: datetime, dry_run: bool) -> dict[str, Any]:
    """Apply ``backups.NAME.keep:``; the ``opsbook.backup-prune/1`` document."""
    return prune_storage(name, backup_spec(config, name), storage_for(config, name), verified, now, dry_run)


def prune_storage(name: str, spec: Backup, storage: Storage, verified: set[str], now: datetime,
                  dry_run: bool) -> dict[str, Any]:
    """``prune`` of backup ``name`` (its ``spec``) kept in ``storage``."""
    if spec.keep is None:
        raise UsageError(f"backups.{name} has no keep: policy",
                         hint="add keep: {last: 7, daily: 7, weekly: 4, monthly: 12}")
    partials = remove_stale_partials(storage, spec, now, dry_run)
    catalog = read_catalog(storage, name)
    decisions = plan([Item(m.id, m.created) for m in catalog.backups], now, spec.keep, verified)
    deleted = []
    if not dry_run:
        for dcs in decisions:
            if not dcs.keep:
                storage.delete(dcs.id)
                deleted.append(dcs.id)
    return {"schema": SCHEMA, "ok": True, "name": name, "dry_run": dry_run, "location": storage.location,
            "verified": sorted(verified), "kept": [d.id for d in decisions if d.keep],
            "deleted": deleted if not dry_run else [d.id for d in decisions if not d.keep],
            "decisions": [d.to_dict() for d in decisions], "partials": partials}
