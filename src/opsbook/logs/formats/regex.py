"""``regex``: a regular expression with named groups (``pattern:``), for plain-text logs (nginx,
Apache, syslog). Each named group is a field; a line the expression does not match is
unparsable."""

from __future__ import annotations

import re
from typing import Any

from .base import Parser


class RegexFormat:
    name = "regex"

    def parser(self, pattern: str | None) -> Parser:
        if not pattern:
            raise ValueError("the regex format needs pattern:")
        match = re.compile(pattern).search

        def parse(line: bytes) -> dict[str, Any]:
            m = match(line.decode("utf-8", "replace"))
            if m is None:
                raise ValueError("does not match pattern")
            return {k: v for k, v in m.groupdict().items() if v is not None}

        return parse


FORMAT = RegexFormat()
