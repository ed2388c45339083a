"""Drill report files written by scheduled drills, as `opsbook drill run` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.load import Config
from ..render import jsondoc
from ..render.backup import drill_markdown


def write_drill_report(cfg: Config, name: str, doc: dict[str, Any]) -> dict[str, str]:
    spec = cfg.model.drills[name]
    d = Path(spec.report_dir).expanduser()
    d = d if d.is_absolute() else cfg.base_dir / d
    d.mkdir(parents=True, exist_ok=True)
    stem = f"restore-{doc['started_at'][:10]}-{name}"
    if (d / f"{stem}.md").exists():
        stem += f"-{doc['started_at'][11:19].replace(':', '')}"
    md, js = d / f"{stem}.md", d / f"{stem}.json"
    paths = {"markdown": str(md), "json": str(js)}
    md.write_text(drill_markdown(doc))
    js.write_text(jsondoc.dumps({**doc, "report": paths}) + "\n")
    return paths
