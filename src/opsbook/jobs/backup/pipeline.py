"""``opsbook backup run``: dump in one snapshot, count rows in that snapshot, store, manifest last.

The dump itself is the source's (``source.Source``: pg_source.py, sqlite_source.py); the rest is
the same for every source and lives here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ... import __version__
from ...config.backups import Backup
from ...config.load import Config
from ...config.resources import PostgresResource, SqliteResource
from ...config.secrets import reveal
from ...errors import UsageError
from .manifest import Manifest, new_id
from .pg_source import PostgresSource
from .source import Progress, Sink, Source, ms
from .sqlite_source import SqliteSource
from .storage import Storage, storage_for
from .stream import compressor, encryptor
from .tools import find, version

SCHEMA = "opsbook.backup/1"


@dataclass
class BackupResult:
    name: str
    manifest: Manifest
    location: str
    objects_at: dict[str, str] = field(default_factory=dict)
    partials_removed: list[str] = field(default_factory=list)  # left by killed runs, removed by this one

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "schema": SCHEMA, "ok": True, "name": self.name, "id": m.id, "location": self.location,
            "created_at": m.created_at, "finished_at": m.finished_at, "size": m.size,
            "encrypted": m.encrypted, "source_kind": m.source_kind,
            "objects": [{**o.to_dict(), "location": self.objects_at.get(o.name)} for o in m.objects],
            "timings_ms": m.timings_ms,
            "tables": {k: v.to_dict() for k, v in m.tables.items()},
            "versions": m.versions, "partials_removed": self.partials_removed,
        }



def backup_spec(config: Config, name: str) -> Backup:
    spec: Backup | None = config.model.backups.get(name)
    if spec is None:
        raise UsageError(f"no backup named {name!r}",
                         hint=f"defined: {', '.join(config.model.backups) or '(none)'}")
    return spec


# Without timeout: a partial directory untouched for a day belongs to no running backup.
STALE_WITHOUT_TIMEOUT = timedelta(days=1).total_seconds()


def stale_after(spec: Backup) -> float:
    """Seconds without a write after which a ``.<id>.partial/`` is a dead run's: the backup's
    ``timeout:`` (a run is killed by then), else a day."""
    return float(spec.timeout) if spec.timeout else STALE_WITHOUT_TIMEOUT


def remove_stale_partials(storage: Storage, spec: Backup, now: datetime, dry_run: bool = False) -> list[str]:
    """Remove (or, dry, list) what killed runs left; best effort, it never fails a run."""
    try:
        return storage.stale_partials(stale_after(spec), now.timestamp(), remove=not dry_run)
    except OSError:
        return []


def _recipients_file(spec: Backup, base_dir: Path) -> str | None:
    if spec.encrypt is None or not spec.encrypt.age_recipients_file:
        return None
    p = Path(os.path.expanduser(spec.encrypt.age_recipients_file))
    return str(p if p.is_absolute() else base_dir / p)


def _recipients(spec: Backup, base_dir: Path) -> list[str]:
    if spec.encrypt is None:
        return []
    out = list(spec.encrypt.age_recipients)
    rf = _recipients_file(spec, base_dir)
    if rf:
        try:
            out += [ln.strip() for ln in Path(rf).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        except OSError as e:
            raise UsageError(f"backups: cannot read age_recipients_file {rf}: {e.strerror}") from None
    return out


def _tail(spec: Backup, base_dir: Path, versions: dict[str, str]) -> list[tuple[str, list[str]]]:
    """zstd, then age when encrypting."""
    zstd = find("zstd")
    versions["zstd"] = version(zstd)
    cmds = [compressor(zstd, spec.zstd.level, spec.zstd.threads)]
    if spec.encrypt is not None:
        age = find("age")
        versions["age"] = version(age)
        cmds.append(encryptor(age, spec.encrypt.age_recipients, _recipients_file(spec, base_dir)))
    return cmds


def source_for(spec: Backup, resources: Mapping[str, Any], base_dir: Path) -> Source:
    """The Source of ``spec.source``: a SQLite file (relative to ``base_dir``) or a PostgreSQL DSN."""
    src = resources[spec.source]
    if isinstance(src, SqliteResource):
        path = Path(os.path.expanduser(src.path))
        return SqliteSource(spec, path if path.is_absolute() else base_dir / path)
    assert isinstance(src, PostgresResource)
    return PostgresSource(spec, reveal(src.dsn, f"resources.{spec.source}.dsn") or "")


def run_backup(config: Config, name: str, progress: Progress | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> BackupResult:
    spec = backup_spec(config, name)
    storage = storage_for(config, name)
    swept = remove_stale_partials(storage, spec, now())
    source = source_for(spec, config.resources, config.base_dir)
    result = backup(name, spec, source, storage, config.base_dir, progress or Progress(), now)
    result.partials_removed = swept
    return result


def backup(name: str, spec: Backup, source: Source, storage: Storage, base_dir: Path, progress: Progress,
           now: Callable[[], datetime]) -> BackupResult:
    """One backup of ``source`` into ``storage``: the manifest is committed last, or nothing is listed.
    ``base_dir``: what a relative ``age_recipients_file`` is relative to."""
    t_start = time.perf_counter()
    versions = {"opsbook": __version__, **source.prepare()}
    tail = _tail(spec, base_dir, versions)
    recipients = _recipients(spec, base_dir)
    storage.preflight()
    bid = new_id(now())
    sink = Sink(storage, bid, tail, "age" if spec.encrypt else None, progress)
    dump = source.dump(sink)
    versions.update(dump.versions)
    manifest = Manifest(
        id=bid, backup=name, source_kind=source.kind, created_at=dump.created.isoformat(),
        finished_at=now().isoformat(), objects=dump.objects, tables=dump.tables, recipients=recipients,
        versions=versions, options=source.options(), timings_ms=sink.timings,
    )
    t0 = time.perf_counter()
    try:
        manifest.timings_ms["total"] = ms(t_start)
        storage.commit(bid, manifest.dumps())
    except BaseException:
        storage.abort(bid)
        raise
    if source.kind == "postgres":  # a SQLite backup's document never had it: kept as it was
        manifest.timings_ms["commit"] = ms(t0)
    return BackupResult(name, manifest, storage.where(bid),
                        {o.name: storage.where(bid, o.name) for o in dump.objects})


__all__ = ["BackupResult", "Progress", "backup", "backup_spec", "run_backup", "source_for"]
