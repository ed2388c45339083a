"""Type mapping: a SQLite declared type or a user cast -> a PostgreSQL type and a value kind.

The kind decides how values are checked (audit), converted (load) and compared (reconcile).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import UsageError

Kind = Literal["int", "float", "numeric", "bool", "timestamptz", "timestamp", "date", "text", "bytea"]

INT_RANGES = {"smallint": (-32768, 32767), "integer": (-2147483648, 2147483647)}
FLOAT4_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Target:
    pg_type: str
    kind: Kind
    lo: int | None = None  # integer range of smallint/integer
    hi: int | None = None
    float_max: float | None = None  # real (float4) range
    numeric_max: int | None = None  # 10 ** (precision - scale) for numeric(p, s)


def from_pg(pg_type: str) -> Target:
    """A user's cast (``--casts t.c=integer``): what kind of values that PostgreSQL type takes."""
    t = " ".join(pg_type.lower().split())
    if not re.fullmatch(r"[a-z_][a-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?", t):
        raise UsageError(f"{pg_type!r} is not a PostgreSQL type name",
                         hint="e.g. --casts orders.total=numeric(12,2)")
    base = t.split("(")[0].strip()
    if base in ("smallint", "int2"):
        return Target(t, "int", *INT_RANGES["smallint"])
    if base in ("integer", "int", "int4"):
        return Target(t, "int", *INT_RANGES["integer"])
    if base in ("bigint", "int8"):
        return Target(t, "int")
    if base in ("real", "float4"):
        return Target(t, "float", float_max=FLOAT4_MAX)
    if base in ("double precision", "float8", "float"):
        return Target(t, "float")
    if base in ("numeric", "decimal"):
        m = re.search(r"\((\d+)\s*(?:,\s*(\d+))?\)", t)
        limit = 10 ** (int(m.group(1)) - int(m.group(2) or 0)) if m else None
        return Target(t, "numeric", numeric_max=limit)
    if base in ("boolean", "bool"):
        return Target(t, "bool")
    if base in ("timestamptz", "timestamp with time zone"):
        return Target(t, "timestamptz")
    if base in ("timestamp", "timestamp without time zone"):
        return Target(t, "timestamp")
    if base == "date":
        return Target(t, "date")
    if base == "bytea":
        return Target(t, "bytea")
    # text, varchar(n), uuid, json, jsonb, citext, time...: values go over as text and
    # PostgreSQL's own input function checks them while loading
    return Target(t, "text")


def from_sqlite(decl: str) -> Target | None:
    """The declared type's mapping; None when the data has to decide (no or unknown type)."""
    u = " ".join(decl.upper().split())
    base = u.split("(")[0].strip()
    if base in ("BOOLEAN", "BOOL"):
        return Target("boolean", "bool")
    if base in ("DATETIME", "TIMESTAMP", "TIMESTAMPTZ"):
        return Target("timestamptz", "timestamptz")
    if base == "DATE":
        return Target("date", "date")
    # SQLite's own affinity rules, in its order (https://sqlite.org/datatype3.html 3.1)
    if "INT" in u:
        return Target("bigint", "int")
    if "CHAR" in u or "CLOB" in u or "TEXT" in u:
        return Target("text", "text")
    if "BLOB" in u:
        return Target("bytea", "bytea")
    if "REAL" in u or "FLOA" in u or "DOUB" in u:
        return Target("double precision", "float")
    if base in ("DECIMAL", "NUMERIC"):
        m = re.search(r"\((\d+)\s*(?:,\s*(\d+))?\)", u)
        if m:
            return from_pg(f"numeric({m.group(1)},{m.group(2) or 0})")
        return Target("numeric", "numeric")
    return None


def infer(ints: int, reals: int, texts: int, blobs: int) -> Target:
    """For a column without a usable declared type: the narrowest type every value fits."""
    if blobs:
        return Target("bytea", "bytea")
    if texts:
        return Target("text", "text")
    if reals:
        return Target("double precision", "float")
    return Target("bigint", "int")
