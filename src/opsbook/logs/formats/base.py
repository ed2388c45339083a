"""What a log format is: a name and a parser factory. A parser turns one line (bytes, no newline)
into a dict of fields, or raises ValueError for a line it cannot read (counted unparsable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Parser = Callable[[bytes], dict[str, Any]]


class LogFormat(Protocol):
    name: str

    def parser(self, pattern: str | None) -> Parser: ...
