"""The explicit registry of check kinds: one line per kind. grep here to find them all."""

from __future__ import annotations

from . import command
from .base import CheckKind

KINDS: dict[str, CheckKind] = {
    "command": command.KIND,
}
