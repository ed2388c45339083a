"""``integrity:``: named suites of declarative data checks, run with ``opsbook integrity run``.

    integrity:
      core:
        resource: db
        checks:
          - unique: {table: stripe_events, columns: [event_id]}
          - references: {table: habit_completions, column: habit_id, to: habits.id}
          - sql: {name: no-negative-streaks, query: "SELECT ...", expect: "value == 0"}

Each entry of ``checks`` has exactly one key, the check type; its mapping holds the type's
keys plus the keys every type takes (``name``, ``severity``, ``error_if``, ``warn_if``,
``description``). The engine lives in ``opsbook.integrity`` (to the right of config).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from ..durations import PositiveDuration
from .fields import Expect
from .references import missing
from .resources import Model, Secret

if TYPE_CHECKING:  # models.py imports this module for its ``integrity:`` field
    from .models import ConfigBase

_THRESHOLD = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$")
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class Threshold:
    """``"> 10"``: a comparison applied to a check's violation count."""

    __slots__ = ("expr", "limit", "op")

    def __init__(self, expr: str, op: str, limit: int) -> None:
        self.expr, self.op, self.limit = expr, op, limit

    @classmethod
    def parse(cls, v: Any) -> Threshold:
        if isinstance(v, Threshold):
            return v
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise ValueError('a threshold is a comparison on the violation count, e.g. "> 10"')
        if isinstance(v, int):
            return cls(f"> {v}", ">", v)  # a bare number: more violations than that
        m = _THRESHOLD.match(v)
        if not m:
            raise ValueError(f'{v!r} is not a threshold; write it like "> 0", ">= 10" or "!= 0"')
        return cls(f"{m.group(1)} {m.group(2)}", m.group(1), int(m.group(2)))

    def matches(self, violations: int) -> bool:
        return _OPS[self.op](violations, self.limit)

    def __repr__(self) -> str:
        return f"Threshold({self.expr!r})"


ThresholdField = Annotated[
    Threshold, PlainValidator(Threshold.parse), PlainSerializer(lambda t: t.expr),
    WithJsonSchema({"type": "string"}),
]
ExpectField = Expect


class IntegrityCheckBase(Model):
    """Keys every check type takes inside its own mapping."""

    name: str | None = Field(default=None, description="defaults to <type>:<table>.<column>")
    severity: Literal["fail", "warn"] = Field(default="fail", description="what a violation gives")
    error_if: ThresholdField | None = Field(default=None, description='fail when the count matches, default "> 0"')
    warn_if: ThresholdField | None = Field(default=None, description='warn when the count matches, default "> 0"')
    description: str = ""

    def default_name(self, type_name: str) -> str:
        return type_name


class _TableCheck(IntegrityCheckBase):
    table: str = Field(description="table name, optionally schema-qualified (public.users)")

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}"


class _ColumnCheck(_TableCheck):
    column: str

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}.{self.column}"


class _ColumnsCheck(_TableCheck):
    columns: list[str] = Field(min_length=1)

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}.{','.join(self.columns)}"


class UniqueCheck(_ColumnsCheck):
    """No two rows share the same (non-NULL) values of ``columns``."""


class NotNullCheck(_ColumnsCheck):
    """No row has NULL in any of ``columns``."""


class ReferencesCheck(_ColumnCheck):
    """Every non-NULL ``column`` value exists in ``to`` (``table.column``)."""

    to: str = Field(description="the referenced table.column, e.g. habits.id")

    @model_validator(mode="after")
    def _dotted(self) -> ReferencesCheck:
        table, _, col = self.to.rpartition(".")
        if not table or not col:
            raise ValueError(f"to: {self.to!r} must name table.column, e.g. habits.id")
        return self

    @property
    def to_table(self) -> str:
        return self.to.rpartition(".")[0]

    @property
    def to_column(self) -> str:
        return self.to.rpartition(".")[2]


class RowCountCheck(_TableCheck):
    """The table has between ``min`` and ``max`` rows."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountCheck:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min:, max: or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is greater than max: {self.max}")
        return self


Scalar = str | int | float | bool


class AcceptedValuesCheck(_ColumnCheck):
    """Every non-NULL ``column`` value is one of ``values``."""

    values: list[Scalar] = Field(min_length=1)


class RangeCheck(_ColumnCheck):
    """Every non-NULL ``column`` value lies within ``min``..``max`` (inclusive)."""

    min: int | float | str | None = None
    max: int | float | str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("range needs min:, max: or both")
        return self


class PatternCheck(_ColumnCheck):
    """Every non-NULL ``column`` value matches ``regex`` (searched, anchor it with ^...$)."""

    regex: str

    @model_validator(mode="after")
    def _compiles(self) -> PatternCheck:
        try:
            re.compile(self.regex)
        except re.error as e:
            raise ValueError(f"regex: {e}") from None
        return self


class FreshnessCheck(_ColumnCheck):
    """The newest ``column`` timestamp is at most ``max_age`` old."""

    max_age: PositiveDuration


class SequenceAheadCheck(IntegrityCheckBase):
    """Every sequence / identity will hand out a value above the largest in its column."""

    tables: list[str] | None = Field(default=None, description="limit to these tables; default all")


class SchemaCheck(IntegrityCheckBase):
    """Required tables, columns and (optionally) their types."""

    tables: dict[str, dict[str, str | None] | list[str]] = Field(
        min_length=1, description="table: {column: type} or table: [column, ...]"
    )


class SqlCheck(IntegrityCheckBase):
    """Any query; with ``expect``, an assertion over value/rows/row_count, else its rows are violations."""

    name: str | None = Field(default=None, description="required for sql checks")
    query: str
    expect: ExpectField | None = Field(default=None, description="e.g. value == 0")

    @model_validator(mode="after")
    def _named(self) -> SqlCheck:
        if not self.name:
            raise ValueError("an sql check needs name:")
        return self


CHECK_TYPES: dict[str, type[IntegrityCheckBase]] = {
    "unique": UniqueCheck,
    "references": ReferencesCheck,
    "not_null": NotNullCheck,
    "row_count": RowCountCheck,
    "accepted_values": AcceptedValuesCheck,
    "range": RangeCheck,
    "pattern": PatternCheck,
    "freshness": FreshnessCheck,
    "sequence_ahead": SequenceAheadCheck,
    "schema": SchemaCheck,
    "sql": SqlCheck,
}


class IntegrityCheck(Model):
    """One entry of ``checks:``: exactly one key, the check type."""

    unique: UniqueCheck | None = None
    references: ReferencesCheck | None = None
    not_null: NotNullCheck | None = None
    row_count: RowCountCheck | None = None
    accepted_values: AcceptedValuesCheck | None = None
    range: RangeCheck | None = None
    pattern: PatternCheck | None = None
    freshness: FreshnessCheck | None = None
    sequence_ahead: SequenceAheadCheck | None = None
    schema_: SchemaCheck | None = Field(default=None, alias="schema")
    sql: SqlCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_type(cls, data: Any) -> Any:
        if isinstance(data, dict):
            present = [k for k in data if k in CHECK_TYPES]
            if len(present) != 1:
                if not present:
                    raise ValueError(f"an integrity check has one type key: {', '.join(CHECK_TYPES)}")
                raise ValueError(f"an integrity check has exactly one type, found {', '.join(present)}")
        return data

    def type_and_spec(self) -> tuple[str, IntegrityCheckBase]:
        for type_name in CHECK_TYPES:
            spec = getattr(self, "schema_" if type_name == "schema" else type_name)
            if spec is not None:
                return type_name, spec
        raise AssertionError("validated checks have exactly one type")  # pragma: no cover

    @property
    def name(self) -> str:
        type_name, spec = self.type_and_spec()
        return spec.name or spec.default_name(type_name)


class IntegritySuite(Model):
    description: str = ""
    resource: str | None = Field(default=None, description="a postgres or sqlite resource")
    dsn: Secret | None = Field(default=None, description="postgresql://...; instead of resource:")
    sample_rows: int = Field(default=5, ge=0, le=1000, description="failing rows shown per check")
    timeout: PositiveDuration | None = Field(default=None, description="per-statement deadline (PostgreSQL)")
    checks: list[IntegrityCheck] = Field(min_length=1)


def cross_check_integrity(cfg: ConfigBase, err: Callable[..., None]) -> None:
    """Suite resources exist and are databases; check names are unique within a suite."""
    suites: dict[str, IntegritySuite] = getattr(cfg, "integrity", {}) or {}
    for name, suite in suites.items():
        if suite.resource is not None:
            res = cfg.resources.get(suite.resource)
            if res is None:
                err(("integrity", name, "resource"), *missing("resource", suite.resource, cfg.resources))
            elif res.kind not in ("postgres", "sqlite"):
                err(("integrity", name, "resource"),
                    f"resource {suite.resource!r} is a {res.kind} resource; a suite takes postgres or sqlite")
        if suite.resource is not None and suite.dsn is not None:
            err(("integrity", name, "dsn"), "give resource: or dsn:, not both")
        seen: dict[str, int] = {}
        for i, check in enumerate(suite.checks):
            if check.name in seen:
                err(("integrity", name, "checks", i),
                    f"two checks are named {check.name!r} (also checks[{seen[check.name]}])",
                    "give one of them name:")
            seen.setdefault(check.name, i)
