"""``logfmt``: ``key=value key2="quoted value" flag`` pairs (Heroku, Go's slog/logrus text,
Grafana Loki). Values are text; the query language compares numeric text as numbers."""

from __future__ import annotations

import re
from typing import Any

from .base import Parser

_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')
_ESC = re.compile(r"\\(.)")


def parse_logfmt(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _PAIR.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"not logfmt at column {pos + 1}")
        key, value = m.group(1), m.group(2)
        if value is None:
            out[key] = True  # a bare key is a flag
        elif value.startswith('"'):
            out[key] = _ESC.sub(r"\1", value[1:-1])
        else:
            out[key] = value
        pos = m.end()
    if not out:
        raise ValueError("no key=value pairs")
    return out


class LogfmtFormat:
    name = "logfmt"

    def parser(self, pattern: str | None) -> Parser:
        def parse(line: bytes) -> dict[str, Any]:
            return parse_logfmt(line.decode("utf-8", "replace"))

        return parse


FORMAT = LogfmtFormat()
