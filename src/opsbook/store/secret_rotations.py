"""Owner of secret_rotations: one row per rotation of a secret in an environment (who, when,
a note, and whether `opsbook secrets rotated` or a rotation runbook recorded it). Never a value:
there is no column for one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .db import Tx, parse_ts

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (90, "secrets: rotations of the secret inventory", [
        """CREATE TABLE secret_rotations (
            id {id},
            name TEXT NOT NULL,
            env TEXT NOT NULL,
            at {ts} NOT NULL,
            by_whom TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            via TEXT NOT NULL,
            run_id {bigint})""",
        "CREATE INDEX ix_secret_rotations_name ON secret_rotations (name, env, at)",
    ]),
]

TABLES: tuple[str, ...] = ("secret_rotations",)
VIA = ("cli", "runbook")
_COLS = "id, name, env, at, by_whom, note, via, run_id"


@dataclass(frozen=True)
class RotationRow:
    id: int
    name: str
    env: str  # "" for a secret that lists no environments
    at: datetime
    by: str
    note: str
    via: str  # cli | runbook
    run_id: int | None  # the runbook run that rotated it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "env": self.env, "at": self.at.isoformat(), "by": self.by,
                "note": self.note, "via": self.via, "run_id": self.run_id}


def _row(r: tuple[Any, ...]) -> RotationRow:
    return RotationRow(int(r[0]), r[1], r[2], parse_ts(r[3]), r[4], r[5], r[6],
                       int(r[7]) if r[7] is not None else None)


def record(tx: Tx, name: str, env: str, at: datetime, by: str, note: str, via: str,
           run_id: int | None = None) -> RotationRow:
    assert via in VIA
    r = tx.one(f"INSERT INTO secret_rotations (name, env, at, by_whom, note, via, run_id) "
               f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLS}",
               (name, env, tx.db.ts(at), by, note, via, run_id))
    assert r is not None
    return _row(r)


def latest(tx: Tx, names: list[str] | None = None) -> dict[tuple[str, str], RotationRow]:
    """(name, env) -> the latest rotation: one query (a rotation log is small)."""
    if names is not None and not names:
        return {}
    where = f"WHERE name IN ({', '.join('?' * len(names))}) " if names else ""
    out: dict[tuple[str, str], RotationRow] = {}
    for r in tx.all(f"SELECT {_COLS} FROM secret_rotations {where}ORDER BY at, id", list(names or [])):
        row = _row(r)
        out[(row.name, row.env)] = row
    return out


def history(tx: Tx, name: str, limit: int = 100) -> list[RotationRow]:
    return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM secret_rotations WHERE name = ? "
                                    "ORDER BY at DESC, id DESC LIMIT ?", (name, limit))]
