"""The explicit registry of log formats: one line per format. docs/logs/<format>.md documents each."""

from __future__ import annotations

from ...registry import Registry
from . import json, logfmt, regex
from .base import LogFormat

FORMATS: Registry[LogFormat] = Registry("log format", {
    "json": json.FORMAT,
    "logfmt": logfmt.FORMAT,
    "regex": regex.FORMAT,
}, docs="logs/{name}.md")
