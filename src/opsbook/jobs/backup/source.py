"""What every backup source implements (``Source``), and what the pipeline hands it (``Sink``).

A source is a database a backup dumps: PostgreSQL (pg_dump custom or directory, pg_source.py)
or a SQLite file (sqlite_source.py). The pipeline (pipeline.py) does the rest the same way for
each: finds zstd/age, preflights the storage, names the backup, writes the manifest last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .manifest import StoredObject, TableSnapshot
from .storage import Storage
from .stream import Chain, Tap


@dataclass
class Progress:
    """Callbacks for a live display; all optional."""

    on_bytes: Callable[[int], None] | None = None
    on_tables: Callable[[int, int], None] | None = None  # done, total


@dataclass
class Sink:
    """Where a source writes: backup ``bid`` in ``storage``, each object through ``tail`` (zstd, then age)."""

    storage: Storage
    bid: str
    tail: list[tuple[str, list[str]]]
    encryption: str | None  # "age" or None: the objects' ``encryption``
    progress: Progress
    timings: dict[str, float] = field(default_factory=dict)  # the manifest's timings_ms, filled by the source


@dataclass
class Dump:
    """What a source dumped: the snapshot's time and table counts, and the stored objects."""

    created: datetime
    tables: dict[str, TableSnapshot]
    objects: list[StoredObject]
    versions: dict[str, str] = field(default_factory=dict)  # learnt while dumping (the server's)


class Source(Protocol):
    @property
    def kind(self) -> str:
        """The manifest's ``source_kind``: ``postgres`` or ``sqlite``."""

    def prepare(self) -> dict[str, str]:
        """Check the source and find its programs before the storage is touched; their versions."""

    def options(self) -> dict[str, Any]:
        """The manifest's ``options``: how this backup was taken."""

    def dump(self, sink: Sink) -> Dump:
        """Take one consistent snapshot and write it through ``sink``; on failure abort the partial backup."""


def ms(t0: float) -> float:
    """Milliseconds since ``t0`` (a ``time.perf_counter()``), as the manifest's timings keep them."""
    return round((time.perf_counter() - t0) * 1000, 1)


def store_stream(storage: Storage, bid: str, name: str, chain: Chain,
                 on_bytes: Callable[[int], None] | None) -> Tap:
    """Write ``chain``'s output as object ``name``, counting and hashing it on the way."""
    tap = Tap(chain, on_bytes)
    storage.write_object(bid, name, tap)  # type: ignore[arg-type]
    if not tap.done:  # a consumer that stopped early must not hide a failed dump
        tap.read()
    return tap
