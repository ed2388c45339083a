"""Store tables of the web work, as numbered migrations 40-49 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = []

TABLES: tuple[str, ...] = ()
