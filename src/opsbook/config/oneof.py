""""Exactly one of these keys picks the kind": one helper for every config mapping that says
what it is by which key it has (``http:`` in a check, ``webhook:`` in a receiver, ``unique:`` in
an integrity check, ``get:`` in a smoke step). (Resources say it with ``kind: NAME``: a pydantic
discriminated union built from their registry, in resources.py.)

A kind's key holds that kind's own mapping, validated by the kind's model, so errors carry the
YAML path down into it (``checks.api.http.path``). Each user of the helper keeps its own
wording (``OneOf``), so messages read as they always have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, create_model, model_validator

from .resources import Model

M = TypeVar("M", bound="OneOfModel")


@dataclass(frozen=True)
class OneOf:
    """The messages for a mapping without its one key (``none``), with several (``many``), and
    with none but a key that is not one of the model's (``unknown``; None leaves that to the
    usual "unknown key" error). Placeholders: ``{keys}`` (the kinds, comma-separated),
    ``{keys_or}`` ("a, b or c"), ``{found}`` (the kinds given) and ``{unknown}`` (the first
    unknown key). ``sort`` lists the kinds alphabetically instead of in registry order."""

    none: str
    many: str
    unknown: str | None = None
    sort: bool = False

    def message(self, template: str, keys: Sequence[str], found: Sequence[str] = (), unknown: str = "") -> str:
        names = sorted(keys) if self.sort else list(keys)
        keys_or = " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)
        return template.format(keys=", ".join(names), keys_or=keys_or, found=", ".join(found), unknown=unknown)


def present(value: Any) -> bool:
    """A kind key counts when it holds something: ``http:`` left empty is no kind."""
    return value is not None and value != ""


def exactly_one(keys: Sequence[str], rule: OneOf) -> Callable[[type[BaseModel], Any], Any]:
    """A ``model_validator(mode="before")`` body: the mapping has exactly one of ``keys``."""

    def check(cls: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # not a mapping: the model's own type error says so
        found = [k for k in data if k in keys and present(data[k])]
        if len(found) == 1:
            return data
        if not found:
            known = set(keys) | {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
            unknown = [k for k in data if k not in known]
            if unknown:
                if rule.unknown is None:
                    return data  # pydantic names the unknown key, with its own path
                raise ValueError(rule.message(rule.unknown, keys, unknown=unknown[0]))
            raise ValueError(rule.message(rule.none, keys))
        raise ValueError(rule.message(rule.many, keys, found))

    return check


def field_name(key: str) -> str:
    """The attribute a kind key is stored under: ``schema`` would shadow BaseModel.schema."""
    return f"{key}_" if hasattr(BaseModel, key) else key


class OneOfModel(Model):
    """A mapping whose kind is the one key it has; ``one_of_keys`` lists the possible keys (set
    by ``one_of_model`` or by a model that declares its kind fields itself)."""

    one_of_keys: ClassVar[tuple[str, ...]] = ()

    def picked(self) -> tuple[str, Any]:
        """The kind key given and its value."""
        for key in type(self).one_of_keys:
            value = getattr(self, field_name(key), None)
            if present(value):
                return key, value
        raise AssertionError("a validated mapping has exactly one kind")  # pragma: no cover


def one_of_model(name: str, base: type[M], models: Mapping[str, type[BaseModel]], rule: OneOf) -> type[M]:
    """``base`` plus one optional field per kind (``key: Model | None``), exactly one given."""
    keys = tuple(models)
    fields: dict[str, Any] = {
        field_name(k): (m | None, Field(default=None, alias=k) if field_name(k) != k else None)
        for k, m in models.items()
    }
    validator: Any = model_validator(mode="before")(exactly_one(keys, rule))
    model = create_model(name, __base__=base, __validators__={"exactly_one": validator}, **fields)
    model.one_of_keys = keys
    return model

