"""The daemon's log: one line per event, as text for people or as one JSON object per line.

Text goes to stderr; JSON lines go to stdout (with ``--json`` stdout is machine output, as for
every opsbook command). Every line passes through the redactor: no secret reaches a log.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from ..config.secrets import redactor


class Log:
    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        if self._stream is not None:
            return self._stream
        return sys.stdout if self.fmt == "json" else sys.stderr

    def line(self, level: str, msg: str, **fields: Any) -> None:
        now = datetime.now(UTC)
        if self.fmt == "json":
            doc = {"ts": now.isoformat(timespec="milliseconds"), "level": level, "msg": msg, **fields}
            text = redactor.text(json.dumps(redactor.redact(doc), default=str, separators=(",", ":")))
        else:
            text = redactor.text(f"{now:%Y-%m-%d %H:%M:%S} {level:<5} {msg}")
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not take the scheduler down
            print(text, file=self.stream, flush=True)

    def info(self, msg: str, **fields: Any) -> None:
        self.line("info", msg, **fields)

    def warn(self, msg: str, **fields: Any) -> None:
        self.line("warn", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.line("error", msg, **fields)
