"""Store tables of the notify work, as numbered migrations 20-29 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = []

TABLES: tuple[str, ...] = ()
