"""``opsbook drill run``: prove a backup restores to exactly the data that was dumped.

fetch (size + sha256) -> decrypt + decompress -> restore into a scratch database (or a temp
SQLite file) -> verify against the manifest's snapshot (row counts, max primary key),
freshness, SQL checks, an integrity suite, app readiness -> drop the scratch database.
Every phase is timed; their sum is the measured RTO.

``run_drill(config, name)`` resolves what the pipeline needs from a loaded Config; callers that
have the pieces already call ``pipeline.drill`` with them.
"""

from __future__ import annotations

from collections.abc import Callable

from ...config.backups import Backup, Drill
from ...config.load import Config
from ...errors import UsageError
from ..backup.storage import storage_for
from .context import DrillServices
from .pipeline import drill
from .result import DrillResult


def drill_spec(config: Config, name: str) -> tuple[Drill, Backup]:
    drills: dict[str, Drill] = config.model.drills
    if name not in drills:
        raise UsageError(f"no drill named {name!r}", hint=f"defined: {', '.join(drills) or '(none)'}")
    d = drills[name]
    return d, config.model.backups[d.backup]


def run_drill(config: Config, name: str, backup_id: str | None = None, keep: bool = False,
              identity: str | None = None, on_phase: Callable[[str], None] | None = None,
              services: DrillServices | None = None) -> DrillResult:
    """Run drill ``name``; ``services`` default to this process's check runner, smoke and integrity."""
    d, b = drill_spec(config, name)
    if services is None:
        from .wiring import default_services

        services = default_services(config)
    return drill(name, d, b, storage_for(config, d.backup), services, resources=config.resources,
                 base_dir=config.base_dir, backup_id=backup_id, keep=keep, identity=identity, on_phase=on_phase)
