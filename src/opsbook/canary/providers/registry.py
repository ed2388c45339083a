"""The explicit registry of canary metric providers: one line per provider. docs/canary/<name>.md
documents each; its config model (config/canaries.py) is the metric's keys."""

from __future__ import annotations

from ...registry import Registry
from . import check, http_json, prometheus
from .base import Provider

PROVIDERS: Registry[Provider] = Registry("canary metric provider", {
    "check": check.PROVIDER,
    "prometheus": prometheus.PROVIDER,
    "http_json": http_json.PROVIDER,
}, docs="canary/{name}.md", model=lambda p: p.Params)
