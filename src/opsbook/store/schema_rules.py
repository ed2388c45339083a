"""Store tables of the rules work, as numbered migrations 10-19 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = []

TABLES: tuple[str, ...] = ()
