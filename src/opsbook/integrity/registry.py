"""The explicit registry of integrity check types: one line per type. grep here to find them all.
Each type's module holds its config model (``Spec``) and its implementation; docs/integrity.md
documents them."""

from __future__ import annotations

from ..registry import Registry
from . import (
    accepted_values,
    custom_sql,
    freshness,
    not_null,
    pattern,
    references,
    row_count,
    schema,
    sequence_ahead,
    unique,
    value_range,
)
from .base import CheckType

TYPES: Registry[CheckType] = Registry("integrity check type", {
    "unique": unique.TYPE,
    "references": references.TYPE,
    "not_null": not_null.TYPE,
    "row_count": row_count.TYPE,
    "accepted_values": accepted_values.TYPE,
    "range": value_range.TYPE,
    "pattern": pattern.TYPE,
    "freshness": freshness.TYPE,
    "sequence_ahead": sequence_ahead.TYPE,
    "schema": schema.TYPE,
    "sql": custom_sql.TYPE,
}, docs="integrity.md", model=lambda t: t.Spec)
