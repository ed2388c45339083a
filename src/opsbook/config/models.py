"""The typed shape of opsbook.yaml.

Pluggable kinds (check kinds, receivers, integrity types) are not imported here: they live to
the right of config, each with its config model. The loader receives their registries
(``Plugins``, assembled in opsbook/plugins.py) and builds the models that hold them with
``pydantic.create_model`` (``one_of_model``), so each kind's keys validate with paths like
``checks.api.http.path``. Resource kinds and smoke step methods are config-only: their
registries are here and in resources.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, Protocol, cast

from pydantic import (
    BaseModel,
    Field,
    create_model,
    model_validator,
)

from ..durations import Duration, PositiveDuration
from ..registry import Registry
from .backups import Backup, Drill
from .canaries import Canary
from .env_contract import AppContract, SecretEntry
from .escalation import Policy as EscalationPolicy
from .fields import Expect, WarnExpect
from .incidents import Incidents
from .integrity import INTEGRITY_TYPE, IntegrityCheck, IntegritySuite
from .logs import Logs
from .notify import RECEIVER_KIND, Notify, Receiver
from .oncall import Person, Schedule
from .oneof import OneOf, OneOfModel, exactly_one, one_of_model
from .releases import Releases
from .replay import Replay
from .resources import HttpAuth, Model, Resource, Secret
from .rules import AlertRule, Heartbeat, MaintenanceWindow, Slo
from .runbooks import Runbooks
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


class CheckCommon(OneOfModel):
    description: str = ""
    expect: list[Expect] = Field(default_factory=list, description="assertions; any false one fails the check")
    warn: list[WarnExpect] = Field(default_factory=list, description="assertions; a false one gives warn")
    every: PositiveDuration | None = Field(default=None, description="how often `opsbook serve` runs it")
    timeout: PositiveDuration | None = Field(default=None, description="the whole check's deadline")
    depends_on: list[str] = Field(default_factory=list, description="checks that must pass first")
    retries: int = Field(default=0, ge=0, le=10, description="re-run an erroring probe this many times")
    labels: dict[str, str] = Field(default_factory=dict)

    def kind_and_params(self) -> tuple[str, CheckParams]:
        kind, params = self.picked()
        return kind, cast(CheckParams, params)


CHECK_KIND = OneOf(none="a check needs one kind key: {keys}",
                   many="a check has exactly one kind, found {found}",
                   unknown="unknown check kind {unknown!r}; a check has one of: {keys}", sort=True)


def check_model(kinds: Registry[Any]) -> type[CheckCommon]:
    return one_of_model("CheckConfig", CheckCommon, kinds.models(), CHECK_KIND)


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


# a smoke step's HTTP method is its one key (``get: /health``); the value is the path
SMOKE_METHODS: Registry[str] = Registry("smoke step method", {
    "get": "GET",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "head": "HEAD",
}, docs="config.md")
SMOKE_METHOD = OneOf(none="a step has exactly one of {keys}", many="a step has exactly one of {keys}")


class SmokeStep(OneOfModel):
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

    one_of_keys = tuple(SMOKE_METHODS)
    _one_method = model_validator(mode="before")(exactly_one(one_of_keys, SMOKE_METHOD))

    @model_validator(mode="after")
    def _one_body(self) -> SmokeStep:
        if sum(x is not None for x in (self.json_body, self.body, self.form)) > 1:
            raise ValueError("a step sends one of json, body or form")
        return self

    @property
    def method(self) -> str:
        return SMOKE_METHODS[self.picked()[0]]

    @property
    def path(self) -> str:
        return str(self.picked()[1])


class SmokeSuite(Model):
    description: str = ""
    resource: str | None = Field(default=None, description="an http resource giving base URL, headers, auth")
    base_url: str | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    verify: bool = True
    timeout: PositiveDuration = 10.0
    steps: list[SmokeStep] = Field(min_length=1)
    finally_: list[SmokeStep] = Field(default_factory=list, alias="finally")


@dataclass(frozen=True, eq=False)
class Plugins:
    """The registries of the kinds a config can name, assembled in opsbook/plugins.py. The
    config layer uses only their config models; their implementations live to its right."""

    checks: Registry[Any]
    receivers: Registry[Any]
    integrity: Registry[Any]
    log_formats: Registry[Any] | None = None  # names only: a format has no config model of its own

    @cached_property
    def model(self) -> type[ConfigBase]:
        """The config model for these kinds; built once per Plugins (schema building is not cheap)."""
        return config_model(self)


def config_model(plugins: Plugins) -> type[ConfigBase]:
    """ConfigBase with the sections that hold pluggable kinds typed by the registries' models."""
    check = check_model(plugins.checks)
    receiver = one_of_model("Receiver", Receiver, plugins.receivers.models(), RECEIVER_KIND)
    notify = create_model("Notify", __base__=Notify,
                          receivers=(dict[str, receiver], Field(default_factory=dict)))  # type: ignore[valid-type]
    integrity_check = one_of_model("IntegrityCheck", IntegrityCheck, plugins.integrity.models(), INTEGRITY_TYPE)
    suite = create_model("IntegritySuite", __base__=IntegritySuite,
                         checks=(list[integrity_check], Field(min_length=1)))  # type: ignore[valid-type]
    return create_model(
        "OpsbookConfig",
        __base__=ConfigBase,
        checks=(dict[str, check], Field(default_factory=dict)),  # type: ignore[valid-type]
        integrity=(dict[str, suite], Field(default_factory=dict)),
        notify=(notify, Field(default_factory=notify)),
    )


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
    people: dict[str, Person] = Field(default_factory=dict)
    oncall: dict[str, Schedule] = Field(default_factory=dict)
    serve: Serve = Field(default_factory=Serve)
    api: Api = Field(default_factory=Api)
    status_page: StatusPage = Field(default_factory=StatusPage)
    retention: Retention = Field(default_factory=Retention)
    incidents: Incidents = Field(default_factory=Incidents)
    escalation: dict[str, EscalationPolicy] = Field(default_factory=dict)
    runbooks: Runbooks = Field(default_factory=Runbooks)
    canaries: dict[str, Canary] = Field(default_factory=dict)
    releases: Releases = Field(default_factory=Releases)
    replay: dict[str, Replay] = Field(default_factory=dict)
    env_contract: dict[str, AppContract] = Field(default_factory=dict)
    secrets: dict[str, SecretEntry] = Field(default_factory=dict)
    logs: Logs = Field(default_factory=Logs)
