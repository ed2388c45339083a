"""``opsbook secrets scan``: committed secrets found by detect-secrets (a maintained library
with entropy and per-provider detectors, not a regex list of ours). A finding is file, line and
type; the secret itself is never kept (detect-secrets keeps only a hash of it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_FILE = 2 * 1024 * 1024  # larger files are skipped (data, not config)
MAX_FILES = 20000
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache"}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    type: str

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "type": self.type}


def _files(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
            continue
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for n in sorted(names):
                f = os.path.join(root, n)
                if os.path.isfile(f) and not os.path.islink(f) and os.path.getsize(f) <= MAX_FILE:
                    out.append(f)
                if len(out) >= MAX_FILES:
                    return out
    return out


def scan(paths: list[str]) -> list[Finding]:
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    found = SecretsCollection()
    with default_settings():
        for f in _files(paths):
            found.scan_file(f)
    out = [Finding(str(Path(name)), int(s.line_number or 0), str(s.type)) for name, s in found]
    return sorted(set(out), key=lambda x: (x.file, x.line, x.type))
