"""Secrets by reference, and redaction of everything we might print or store.

A secret in the config is ``{env: NAME}`` or ``{file: PATH}``. It is resolved only when a
check needs it, and every resolved value is registered with the process-wide redactor so
that no table, JSON document, log line or stored row can show it. Passwords embedded in
URLs and DSNs (``postgresql://u:pw@h/db``) are redacted even when written inline.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import ConfigError

REDACTED = "***"


class SecretRef(BaseModel):
    """``{env: NAME}`` or ``{file: PATH}``; exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference is either {env: NAME} or {file: PATH}")
        return self

    def describe(self) -> str:
        return f"<secret from env {self.env}>" if self.env else f"<secret from file {self.file}>"

    def resolve(self, path: str = "") -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    f"environment variable {self.env} is not set",
                    path=path,
                    hint=f"export {self.env}=... or change the reference",
                )
        else:
            assert self.file is not None
            p = Path(os.path.expanduser(self.file))
            try:
                value = p.read_text().strip()
            except OSError as e:
                raise ConfigError(
                    f"cannot read secret file {self.file}: {e.strerror}", path=path
                ) from None
        redactor.add(value)
        return value


# A config value that may be written inline (e.g. a URL without credentials) or by reference.
Secret = str | SecretRef


def reveal(value: Secret | None, path: str = "") -> str | None:
    """The plain value of a maybe-secret field; registers it with the redactor."""
    if value is None:
        return None
    if isinstance(value, SecretRef):
        return value.resolve(path)
    redact_url_password(value)  # registers any embedded password
    return value


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


def redact_url_password(text: str) -> str:
    """Replace the password in ``scheme://user:pw@host`` and ``password=pw`` forms."""

    def url(m: re.Match[str]) -> str:
        redactor.add(m.group("pw"))
        return f"{m.group('scheme')}{m.group('user')}:{REDACTED}@"

    def kv(m: re.Match[str]) -> str:
        redactor.add(m.group("pw").strip("'"))
        return f"{m.group('key')}{REDACTED}"

    return _KV_PASSWORD.sub(kv, _URL_PASSWORD.sub(url, text))


class Redactor:
    """Process-wide set of secret values; ``redact`` scrubs them out of any structure."""

    MIN_LEN = 4  # shorter values would shred ordinary text; they are still never logged by us

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if not value or len(value) < self.MIN_LEN or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            alts = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alts))
        return self._pattern

    def text(self, s: str) -> str:
        s = redact_url_password(s) if "://" in s or "assword" in s else s
        pat = self._compiled()
        return pat.sub(REDACTED, s) if pat else s

    def redact(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.redact(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact(v) for v in obj]
        return obj


redactor = Redactor()
