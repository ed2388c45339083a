"""``file:`` receiver: one JSON line per notification, appended to a file or written to stdout.
For audits, local testing and piping into other tools."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from ...config.resources import Model
from ...errors import DeliveryError
from ...fsmode import open_private, private_dir
from .base import ReceiverKind, SendContext


class FileReceiver(Model):
    path: str = Field(description='a JSON-lines file (relative to the config file), or "-" for stdout')


def send(spec: FileReceiver, payload: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    line = json.dumps(payload, separators=(",", ":"), default=str) + "\n"
    if spec.path == "-":
        sys.stdout.write(line)
        sys.stdout.flush()
        return {"path": "-", "bytes": len(line.encode())}
    path = Path(os.path.expanduser(spec.path))
    if not path.is_absolute():
        path = ctx.base_dir / path
    try:
        private_dir(path.parent)
        with open_private(path, "a") as f:  # notifications name hosts and alerts: 0600
            f.write(line)
    except OSError as e:
        raise DeliveryError(f"file {ctx.name}: cannot write {path}: {e.strerror}", retryable=True,
                            hint="check the directory exists and is writable") from None
    return {"path": str(path), "bytes": len(line.encode())}


KIND = ReceiverKind(FileReceiver, send)
