"""``json``: one JSON object per line (JSON lines), decoded with orjson."""

from __future__ import annotations

from typing import Any

from .base import Parser


class JsonFormat:
    name = "json"

    def parser(self, pattern: str | None) -> Parser:
        import orjson

        loads = orjson.loads

        def parse(line: bytes) -> dict[str, Any]:
            d = loads(line)  # orjson.JSONDecodeError is a ValueError
            if type(d) is not dict:
                raise ValueError(f"a JSON {type(d).__name__}, not an object")
            return d

        return parse


FORMAT = JsonFormat()
