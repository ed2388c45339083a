"""The typed shape of opsbook.yaml.

Check kinds are not imported here (they live to the right of config). The loader receives
the registry's kinds and builds the ``checks`` model from their ``Params`` classes with
``pydantic.create_model``, so each kind's keys validate with paths like
``checks.api.http.path``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    Field,
    create_model,
    model_validator,
)

from ..durations import Duration, PositiveDuration
from .backups import Backup, Drill
from .fields import Expect, WarnExpect
from .integrity import IntegritySuite
from .notify import Notify
from .resources import HttpAuth, Model, Resource, Secret
from .rules import AlertRule, Heartbeat, MaintenanceWindow, Slo
from .secrets import DataWithSecrets
from .serve import Serve
from .web import Api, Retention, StatusPage


class KindInfo(Protocol):
    """What the config layer needs to know of a check kind (see checks/registry.py)."""

    name: str
    Params: type[BaseModel]
    resource_kinds: tuple[str, ...]


class CheckParams(Model):
    """Keys every check kind accepts under its own key, e.g. ``http: {resource: api}``."""

    resource: str | None = Field(
        default=None, description="name of an entry under resources: to read connection details from"
    )


class CheckCommon(Model):
    description: str = ""
    expect: list[Expect] = Field(default_factory=list, description="assertions; any false one fails the check")
    warn: list[WarnExpect] = Field(default_factory=list, description="assertions; a false one gives warn")
    every: PositiveDuration | None = Field(default=None, description="how often `opsbook serve` runs it")
    timeout: PositiveDuration | None = Field(default=None, description="the whole check's deadline")
    depends_on: list[str] = Field(default_factory=list, description="checks that must pass first")
    retries: int = Field(default=0, ge=0, le=10, description="re-run an erroring probe this many times")
    labels: dict[str, str] = Field(default_factory=dict)

    def kind_and_params(self) -> tuple[str, CheckParams]:
        for name in type(self).model_fields:
            if name in CheckCommon.model_fields:
                continue
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise AssertionError("validated checks have exactly one kind")  # pragma: no cover


def check_model(kinds: dict[str, KindInfo]) -> type[CheckCommon]:
    fields: dict[str, Any] = {
        name: (info.Params | None, Field(default=None)) for name, info in kinds.items()
    }
    names = sorted(kinds)

    def exactly_one_kind(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            present = [k for k in data if k in kinds]
            if len(present) != 1:
                unknown = [k for k in data if k not in cls.model_fields]
                if not present and unknown:
                    raise ValueError(
                        f"unknown check kind {unknown[0]!r}; a check has one of: {', '.join(names)}"
                    )
                if not present:
                    raise ValueError(f"a check needs one kind key: {', '.join(names)}")
                raise ValueError(f"a check has exactly one kind, found {', '.join(present)}")
        return data

    return create_model(
        "CheckConfig",
        __base__=CheckCommon,
        __validators__={"exactly_one_kind": model_validator(mode="before")(exactly_one_kind)},  # type: ignore[dict-item]
        **fields,
    )


class Environment(Model):
    vars: dict[str, str] = Field(default_factory=dict)
    description: str = ""


class StoreConfig(Model):
    url: Secret | None = Field(
        default=None,
        description="sqlite:///path.db or postgresql://...; default .opsbook/opsbook.db beside the config",
    )


class Defaults(Model):
    every: PositiveDuration = 60.0
    timeout: PositiveDuration = 10.0
    concurrency: int = Field(default=64, ge=1, le=10000)


class Retry(Model):
    times: int = Field(default=1, ge=1, le=1000)
    interval: Duration = 1.0


class SmokeStep(Model):
    name: str = ""
    get: str | None = None
    post: str | None = None
    put: str | None = None
    patch: str | None = None
    delete: str | None = None
    head: str | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    json_body: DataWithSecrets = Field(default=None, alias="json")
    body: Secret | None = None
    form: dict[str, Secret] | None = None
    auth: HttpAuth | None = None
    expect: list[Expect] = Field(default_factory=list)
    save: dict[str, str] = Field(default_factory=dict, description="name: observation path")
    retry: Retry | None = None
    timeout: PositiveDuration | None = None

    @model_validator(mode="after")
    def _one_method(self) -> SmokeStep:
        methods = [m for m in ("get", "post", "put", "patch", "delete", "head") if getattr(self, m)]
        if len(methods) != 1:
            raise ValueError("a step has exactly one of get, post, put, patch, delete, head")
        if sum(x is not None for x in (self.json_body, self.body, self.form)) > 1:
            raise ValueError("a step sends one of json, body or form")
        return self

    @property
    def method(self) -> str:
        for m in ("get", "post", "put", "patch", "delete", "head"):
            if getattr(self, m):
                return m.upper()
        raise AssertionError  # pragma: no cover

    @property
    def path(self) -> str:
        return str(getattr(self, self.method.lower()))


class SmokeSuite(Model):
    description: str = ""
    resource: str | None = Field(default=None, description="an http resource giving base URL, headers, auth")
    base_url: str | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    verify: bool = True
    timeout: PositiveDuration = 10.0
    steps: list[SmokeStep] = Field(min_length=1)
    finally_: list[SmokeStep] = Field(default_factory=list, alias="finally")


_MODELS: dict[tuple[int, ...], type[BaseModel]] = {}


def config_model(kinds: dict[str, KindInfo]) -> type[BaseModel]:
    """The config model for these kinds; built once per process (schema building is not cheap)."""
    key = tuple(id(k) for k in kinds.values())
    cached = _MODELS.get(key)
    if cached is not None:
        return cached
    check = check_model(kinds)
    model = create_model(
        "OpsbookConfig",
        __base__=ConfigBase,
        checks=(dict[str, check], Field(default_factory=dict)),  # type: ignore[valid-type]
    )
    _MODELS[key] = model
    return model


class ConfigBase(Model):
    version: Literal[1] = 1
    project: str = "opsbook"
    default_env: str | None = None
    store: StoreConfig = Field(default_factory=StoreConfig)
    defaults: Defaults = Field(default_factory=Defaults)
    vars: dict[str, str] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(default_factory=dict)
    resources: dict[str, Resource] = Field(default_factory=dict)
    smoke: dict[str, SmokeSuite] = Field(default_factory=dict)
    # sections with models of their own (config/<area>.py): one line each
    backups: dict[str, Backup] = Field(default_factory=dict)
    drills: dict[str, Drill] = Field(default_factory=dict)
    integrity: dict[str, IntegritySuite] = Field(default_factory=dict)
    alerts: dict[str, AlertRule] = Field(default_factory=dict)
    slos: dict[str, Slo] = Field(default_factory=dict)
    heartbeats: dict[str, Heartbeat] = Field(default_factory=dict)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    notify: Notify = Field(default_factory=Notify)
    serve: Serve = Field(default_factory=Serve)
    api: Api = Field(default_factory=Api)
    status_page: StatusPage = Field(default_factory=StatusPage)
    retention: Retention = Field(default_factory=Retention)
