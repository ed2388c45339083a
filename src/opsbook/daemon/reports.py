"""Drill report files written by scheduled drills, as `opsbook drill run` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.load import Config
from ..render.backup import write_drill_report as _write


def write_drill_report(cfg: Config, name: str, doc: dict[str, Any]) -> dict[str, str]:
    d = Path(cfg.model.drills[name].report_dir).expanduser()
    return _write(d if d.is_absolute() else cfg.base_dir / d, name, doc)
