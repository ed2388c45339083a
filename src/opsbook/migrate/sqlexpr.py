"""SQL expressions per value kind, evaluated inside SQLite (and PostgreSQL for reconcile).

``value(c, target, present, validate)`` is the value as it should land in PostgreSQL, or NULL
for a value that cannot (counted by the audit). With ``validate=False`` (the audit found no
such values) branches for absent storage classes and their checks are dropped, so the load's
SELECT stays as cheap as reading the column. ``copy_field`` turns that value into a field of
COPY's text format; ``sqlite_metrics`` / ``pg_metrics`` are the reconcile aggregates, computed
the same way on both sides.
"""

from __future__ import annotations

from .types import Target

CLASSES = ("integer", "real", "text", "blob")
MOD = 1000000007  # integer sums are taken modulo a prime so they cannot overflow int64

_TRUE = ("true", "t", "yes", "y", "on", "1")
_FALSE = ("false", "f", "no", "n", "off", "0")
ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
NUMBER_TEXT = "({c} GLOB '*[0-9]*' AND NOT {c} GLOB '*[^0-9.eE+-]*')"


def _iso_ok(c: str) -> str:
    # julianday() accepts what SQLite calls a time value; the date() round trip rejects
    # days SQLite tolerates but PostgreSQL does not (2024-02-30)
    return (f"({c} GLOB '{ISO_GLOB}' AND julianday({c}) IS NOT NULL"
            f" AND date(substr({c}, 1, 10), '+0 days') = substr({c}, 1, 10))")


def _epoch(c: str) -> str:
    # epoch seconds, or milliseconds (Prisma, JavaScript) when too large to be seconds:
    # 1e11 s is the year 5138, 1e11 ms is 1973
    return f"CASE WHEN abs({c}) >= 100000000000 THEN {c} / 1000.0 ELSE {c} END"


def _case(branches: list[tuple[str, str, str]], present: set[str], validate: bool) -> str:
    """CASE over storage classes; a single present class without checks needs no CASE."""
    live = [(cls, cond, expr) for cls, cond, expr in branches if cls in present]
    if not live:
        return "NULL"
    if not validate and len(live) == 1:
        return live[0][2]
    parts = []
    for cls, cond, expr in live:
        test = f"typeof(@c) = '{cls}'" + (f" AND {cond}" if validate and cond else "")
        parts.append(f"WHEN {test} THEN {expr}")
    return "CASE " + " ".join(parts) + " END"


def value(c: str, t: Target, present: set[str], validate: bool, lossy_text: bool = False) -> str:
    """The value as PostgreSQL should receive it (SQLite expression over column ``c``).

    Written with ``@c`` standing for the column; each branch is (storage class, check, value).
    """
    b: list[tuple[str, str, str]]
    if t.kind == "int":
        rng = "" if t.lo is None else f" BETWEEN {t.lo} AND {t.hi}"
        b = [("integer", f"@c{rng}" if rng else "", "@c"),
             ("real", f"@c = CAST(@c AS INTEGER){' AND @c' + rng if rng else ''}", "CAST(@c AS INTEGER)"),
             ("text", f"CAST(CAST(@c AS INTEGER) AS TEXT) = @c{' AND CAST(@c AS INTEGER)' + rng if rng else ''}",
              "CAST(@c AS INTEGER)")]
    elif t.kind in ("float", "numeric"):
        lim = t.float_max if t.kind == "float" else t.numeric_max
        bound = f"abs(@c) < {lim!r}" if lim is not None else ""
        conv = "CAST(@c AS REAL)" if t.kind == "float" else "@c"
        num = NUMBER_TEXT.format(c="@c") + (f" AND abs(CAST(@c AS REAL)) < {lim!r}" if lim is not None else "")
        b = [("integer", bound, conv), ("real", bound, "@c"), ("text", num, conv)]
    elif t.kind == "bool":
        truthy = " ".join(f"WHEN '{v}' THEN 1" for v in _TRUE)
        falsy = " ".join(f"WHEN '{v}' THEN 0" for v in _FALSE)
        b = [("integer", "@c IN (0, 1)", "CASE @c WHEN 1 THEN 1 WHEN 0 THEN 0 END"),
             ("real", "@c IN (0, 1)", "CASE @c WHEN 1 THEN 1 WHEN 0 THEN 0 END"),
             ("text", f"lower(trim(@c)) IN ({', '.join(repr(v) for v in _TRUE + _FALSE)})",
              f"CASE lower(trim(@c)) {truthy} {falsy} END")]
    elif t.kind in ("timestamptz", "timestamp"):
        tz = " || '+00:00'" if t.kind == "timestamptz" else ""
        from_epoch = f"strftime('%Y-%m-%d %H:%M:%f', {_epoch('@c')}, 'unixepoch'){tz}"
        text = "@c"
        if t.kind == "timestamp":  # PostgreSQL's timestamp ignores an offset: apply it here
            text = ("CASE WHEN @c GLOB '*[+-][0-9][0-9]:[0-9][0-9]' OR @c GLOB '*Z' "
                    "THEN strftime('%Y-%m-%d %H:%M:%f', @c) ELSE @c END")
        b = [("integer", "abs(@c) < 1e15", from_epoch), ("real", "abs(@c) < 1e15", from_epoch),
             ("text", _iso_ok("@c"), text)]
    elif t.kind == "date":
        from_epoch = f"date({_epoch('@c')}, 'unixepoch')"
        b = [("integer", "abs(@c) < 1e15", from_epoch), ("real", "abs(@c) < 1e15", from_epoch),
             ("text", _iso_ok("@c"), "date(@c)")]
    elif t.kind == "text":
        b = [("text", "", "@c"), ("integer", "", "CAST(@c AS TEXT)"), ("real", "", "CAST(@c AS TEXT)")]
        if lossy_text:
            b.append(("blob", "", "CAST(@c AS TEXT)"))
    else:  # bytea takes any storage class: hex() of text is its UTF-8 bytes
        return c
    return _case(b, present, validate).replace("@c", c)


def copy_field(v: str, t: Target, escapes: str = "", strip_nul: bool = False) -> str:
    """The COPY text-format field for value expression ``v`` (NULL stays NULL)."""
    if t.kind == "float":
        # SQLite's printf('%!.17g') round-trips doubles below ~1e90; larger ones go to Python
        return f"CASE WHEN abs({v}) < 1e90 THEN printf('%!.17g', {v}) ELSE opsbook_float({v}) END"
    if t.kind == "numeric":
        return f"CAST({v} AS TEXT)"
    if t.kind == "bool":
        return f"CASE {v} WHEN 1 THEN 't' WHEN 0 THEN 'f' END"
    if t.kind == "bytea":
        return f"CASE WHEN {v} IS NOT NULL THEN '\\\\x' || hex({v}) END"  # hex(NULL) is empty, not NULL
    if t.kind == "text":
        out = f"replace({v}, char(0), '')" if strip_nul else v
        for ch, code, esc in (("\\", "'\\'", "'\\\\'"), ("\t", "char(9)", "'\\t'"),
                              ("\n", "char(10)", "'\\n'"), ("\r", "char(13)", "'\\r'")):
            if ch in escapes:
                out = f"replace({out}, {code}, {esc})"
        return out
    return v


def sqlite_metrics(v: str, t: Target, hashes: bool = False) -> dict[str, str]:
    """Aggregates over the landed value, SQLite side; keys match ``pg_metrics``."""
    m = {"non_null": f"count({v})"}
    if t.kind == "int":
        m.update(sum_mod=f"sum({v} % {MOD})", min=f"min({v})", max=f"max({v})")
    elif t.kind in ("float", "numeric"):
        m.update(sum=f"sum(CAST({v} AS REAL))", min=f"min(CAST({v} AS REAL))", max=f"max(CAST({v} AS REAL))")
    elif t.kind == "bool":
        m.update(true=f"sum({v})")
    elif t.kind in ("timestamptz", "timestamp"):
        ms = f"CAST(round((julianday({v}) - 2440587.5) * 86400000.0) AS INTEGER)"
        m.update(ms_sum_mod=f"sum({ms} % {MOD})", ms_min=f"min({ms})", ms_max=f"max({ms})")
    elif t.kind == "date":
        days = f"CAST(julianday({v}) - 2440587.5 AS INTEGER)"
        m.update(day_sum=f"sum({days})", day_min=f"min({days})", day_max=f"max({days})")
    elif t.kind == "text":
        m.update(chars=f"sum(length({v}))", min=f"min({v})", max=f"max({v})")
    else:
        m.update(bytes=f"sum(length(CAST({v} AS BLOB)))")
    if hashes and t.kind in ("text", "bytea"):
        m.update(md5_sum=f"sum(opsbook_h32(CAST({v} AS BLOB)))")
    return m


def pg_metrics(c: str, t: Target, hashes: bool = False) -> dict[str, str]:
    m = {"non_null": f"count({c})"}
    if t.kind == "int":
        m.update(sum_mod=f"sum({c}::bigint % {MOD})", min=f"min({c})", max=f"max({c})")
    elif t.kind in ("float", "numeric"):
        m.update(sum=f"sum({c}::float8)", min=f"min({c}::float8)", max=f"max({c}::float8)")
    elif t.kind == "bool":
        m.update(true=f"count(*) FILTER (WHERE {c})")
    elif t.kind in ("timestamptz", "timestamp"):
        ms = f"round(extract(epoch FROM {c}) * 1000)::bigint"
        m.update(ms_sum_mod=f"sum({ms} % {MOD})", ms_min=f"min({ms})", ms_max=f"max({ms})")
    elif t.kind == "date":
        days = f"({c} - DATE '1970-01-01')"
        m.update(day_sum=f"sum({days})", day_min=f"min({days})", day_max=f"max({days})")
    elif t.kind == "text":
        # byte order, as SQLite's BINARY collation compares
        m.update(chars=f"sum(length({c}))", min=f'min({c} COLLATE "C")', max=f'max({c} COLLATE "C")')
    else:
        m.update(bytes=f"sum(length({c}))")
    if hashes and t.kind in ("text", "bytea"):
        m.update(md5_sum=f"sum(('x' || left(md5({c}), 8))::bit(32)::int)")
    return m
