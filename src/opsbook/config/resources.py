"""Resource models: the things checks and jobs point at, named once in ``resources:``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..durations import Duration, PositiveDuration
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


class HttpResource(Model):
    kind: Literal["http"]
    url: str
    headers: dict[str, Secret] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    verify: bool = True
    description: str = ""


class PostgresResource(Model):
    kind: Literal["postgres"]
    dsn: Secret
    description: str = ""


class SqliteResource(Model):
    kind: Literal["sqlite"]
    path: str
    description: str = ""


class RedisResource(Model):
    kind: Literal["redis"]
    url: Secret
    description: str = ""


class S3Resource(Model):
    kind: Literal["s3"]
    bucket: str
    endpoint: Secret | None = None
    region: str | None = None
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    prefix: str = ""
    description: str = ""


class AmqpResource(Model):
    kind: Literal["amqp"]
    url: Secret
    description: str = ""


class TcpResource(Model):
    kind: Literal["tcp"]
    host: str
    port: int = Field(ge=1, le=65535)
    description: str = ""


class PrometheusResource(Model):
    kind: Literal["prometheus"]
    url: str = Field(description="base URL of the Prometheus HTTP API, e.g. http://127.0.0.1:9090")
    headers: dict[str, Secret] = Field(default_factory=dict)
    timeout: PositiveDuration = 10.0
    description: str = ""


Resource = Annotated[
    HttpResource
    | PostgresResource
    | SqliteResource
    | RedisResource
    | S3Resource
    | AmqpResource
    | TcpResource
    | PrometheusResource,
    Field(discriminator="kind"),
]

__all__ = [
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
    "S3Resource",
    "Secret",
    "SecretRef",
    "SqliteResource",
    "TcpResource",
]
