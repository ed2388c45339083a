"""The explicit registry of check kinds: one line per kind. grep here to find them all.
Each kind's module holds its ``Params`` model and its probe (see base.py); docs/checks/<kind>.md
documents it."""

from __future__ import annotations

from ..registry import Registry
from . import amqp, command, logs, postgres, s3, sqlite, tcp, tls
from . import dns as dns_check
from . import env as env_check
from . import http as http_check
from . import redis as redis_check
from .base import CheckKind

KINDS: Registry[CheckKind] = Registry("check kind", {
    "amqp": amqp.KIND,
    "command": command.KIND,
    "env": env_check.KIND,
    "postgres": postgres.KIND,
    "redis": redis_check.KIND,
    "s3": s3.KIND,
    "sqlite": sqlite.KIND,
    "http": http_check.KIND,
    "tcp": tcp.KIND,
    "dns": dns_check.KIND,
    "tls": tls.KIND,
    "logs": logs.KIND,
}, docs="checks/{name}.md", model=lambda k: k.Params)
