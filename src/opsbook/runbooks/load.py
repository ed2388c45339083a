"""PLACEHOLDER (helper rbr) until the parser helper lands: the lead replaces this file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config.references import missing
from ..errors import UsageError
from .model import Runbook
from .parse import parse

if TYPE_CHECKING:
    from ..config.load import Config


def runbook_dir(cfg: Config) -> Path:
    return cfg.path.parent / cfg.model.runbooks.dir


def load_all(cfg: Config) -> dict[str, Runbook]:
    d = runbook_dir(cfg)
    return {p.stem: parse(p.read_text(), p) for p in sorted(d.glob("*.md"))} if d.is_dir() else {}


def find(cfg: Config, name: str) -> Runbook:
    path = runbook_dir(cfg) / f"{name}.md"
    if not path.is_file():
        names = [p.stem for p in runbook_dir(cfg).glob("*.md")]
        msg, hint = missing("runbook", name, names, f"runbooks in {runbook_dir(cfg)}")
        raise UsageError(msg, hint=hint)
    return parse(path.read_text(), path)
