"""Resource models: the things checks and jobs point at, named once in ``resources:``.

A resource kind is one model here and one line in ``RESOURCES``; ``kind:`` picks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias, Union

from pydantic import BaseModel, ConfigDict, Field

from ..durations import Duration, PositiveDuration
from ..registry import Registry
from .secrets import Secret, SecretRef


class Model(BaseModel):
    """Base for every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BasicAuth(Model):
    username: str
    password: Secret


class HttpAuth(Model):
    bearer: Secret | None = None
    basic: BasicAuth | None = None


class ResourceBase(Model):
    """What every resource kind has; each kind narrows ``kind`` to its own name."""

    kind: str


class HttpResource(ResourceBase):
    kind: Literal["http"]
    url: str
    headers: dict[str, Secret] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    verify: bool = True
    description: str = ""


class PostgresResource(ResourceBase):
    kind: Literal["postgres"]
    dsn: Secret
    description: str = ""


class SqliteResource(ResourceBase):
    kind: Literal["sqlite"]
    path: str
    description: str = ""


class RedisResource(ResourceBase):
    kind: Literal["redis"]
    url: Secret
    description: str = ""


class S3Resource(ResourceBase):
    kind: Literal["s3"]
    bucket: str
    endpoint: Secret | None = None
    region: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    prefix: str = ""
    description: str = ""


class AmqpResource(ResourceBase):
    kind: Literal["amqp"]
    url: Secret
    description: str = ""


class TcpResource(ResourceBase):
    kind: Literal["tcp"]
    host: str
    port: int = Field(ge=1, le=65535)
    description: str = ""


class PrometheusResource(ResourceBase):
    kind: Literal["prometheus"]
    url: str = Field(description="base URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090")
    headers: dict[str, Secret] = Field(default_factory=dict)
    timeout: PositiveDuration = 10.0
    description: str = ""


RESOURCES: Registry[type[ResourceBase]] = Registry("resource kind", {
    "http": HttpResource,
    "postgres": PostgresResource,
    "sqlite": SqliteResource,
    "redis": RedisResource,
    "s3": S3Resource,
    "amqp": AmqpResource,
    "tcp": TcpResource,
    "prometheus": PrometheusResource,
}, docs="config.md", model=lambda m: m)

if TYPE_CHECKING:  # code narrows with isinstance(res, HttpResource); every resource has kind:
    Resource: TypeAlias = ResourceBase
else:  # pydantic validates one of the registered models, picked by kind:
    Resource = Annotated[Union[tuple(RESOURCES.values())], Field(discriminator="kind")]  # noqa: UP007


__all__ = [
    "RESOURCES",
    "AmqpResource",
    "BasicAuth",
    "Duration",
    "HttpAuth",
    "HttpResource",
    "Model",
    "PostgresResource",
    "PrometheusResource",
    "RedisResource",
    "Resource",
    "ResourceBase",
    "S3Resource",
    "Secret",
    "SecretRef",
    "SqliteResource",
    "TcpResource",
]
