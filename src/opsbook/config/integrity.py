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
``description``). Each type's model lives beside its implementation in
``opsbook/integrity/<type>.py`` (listed in integrity/registry.py); this module has what they
share. The engine lives in ``opsbook.integrity`` (to the right of config).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema

from ..durations import PositiveDuration
from .fields import Expect
from .oneof import OneOf, OneOfModel
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


class TableCheck(IntegrityCheckBase):
    table: str = Field(description="table name, optionally schema-qualified (public.users)")

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}"


class ColumnCheck(TableCheck):
    column: str

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}.{self.column}"


class ColumnsCheck(TableCheck):
    columns: list[str] = Field(min_length=1)

    def default_name(self, type_name: str) -> str:
        return f"{type_name}:{self.table}.{','.join(self.columns)}"


Scalar = str | int | float | bool


class IntegrityCheck(OneOfModel):
    """One entry of ``checks:``: exactly one key, the check type. The types, with their config
    models, are in integrity/registry.py; the config's model is this one plus a field per type
    (``one_of_model``, built at load)."""

    def type_and_spec(self) -> tuple[str, IntegrityCheckBase]:
        type_name, spec = self.picked()
        assert isinstance(spec, IntegrityCheckBase)
        return type_name, spec

    @property
    def name(self) -> str:
        type_name, spec = self.type_and_spec()
        return spec.name or spec.default_name(type_name)


INTEGRITY_TYPE = OneOf(none="an integrity check has one type key: {keys}",
                       many="an integrity check has exactly one type, found {found}",
                       unknown="an integrity check has one type key: {keys}")


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
