"""Config for executable runbooks (``runbooks:``): where the Markdown files live and the run
defaults. The runbooks themselves are Markdown files (opsbook/runbooks/, docs/runbooks.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from ..durations import PositiveDuration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase


class Runbooks(Model):
    dir: str = Field(default="runbooks", description="the directory of runbook files (*.md), relative to the "
                                                     "config's directory")
    step_timeout: PositiveDuration = Field(default=600.0, description="a step's timeout when it sets none")
    approval_ttl: PositiveDuration = Field(default=3600.0, description="how long an approval step waits "
                                                                       "before the run fails")
    checklist_timeout: PositiveDuration = Field(default=3600.0, description="how long a non-interactive run "
                                                                            "waits for a checklist item")
    grace: PositiveDuration = Field(default=86400.0, description="how long a scheduled runbook's occurrence may "
                                   "stay undone before `runbook overdue` holds (front matter grace: overrides)")
    require_approval: list[str] = Field(default_factory=list, description="environments where a "
                                        "confirm=true step needs a second operator's approval")


# an alert's ``runbook:`` annotation naming a runbook (a file stem), not a URL or free text
RUNBOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def runbook_ref(annotation: str | None) -> str | None:
    """The runbook an alert's ``runbook:`` annotation names, or None when it is a URL or prose."""
    value = (annotation or "").strip()
    return value if RUNBOOK_NAME.fullmatch(value) and not value.lower().endswith((".html", ".htm")) else None


def runbook_names(cfg: ConfigBase, base_dir: Path | None) -> list[str] | None:
    """The runbook files' names (stems) in ``runbooks.dir``; None when the directory is not known."""
    if base_dir is None:
        return None
    d = base_dir / cfg.runbooks.dir
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.md") if p.is_file() and p.name.lower() != "readme.md")


def cross_check_runbooks(cfg: ConfigBase, err: ErrFn, base_dir: Path | None) -> None:
    """``runbook NAME overdue`` conditions and ``runbook: NAME`` annotations name runbook files that
    exist. Annotations are checked only when the runbooks directory has files: before runbooks,
    the annotation held a URL or a sentence, and those stay valid."""
    names = runbook_names(cfg, base_dir)
    if names is None:
        return
    where = f"runbooks in {cfg.runbooks.dir}/"
    for alert, rule in cfg.alerts.items():
        cond = rule.condition
        if cond is not None and cond.source == "runbook" and cond.target and cond.target not in names:
            err(("alerts", alert, "when"), *missing("runbook", cond.target, names, where))
        ref = runbook_ref(rule.annotations.get("runbook"))
        if names and ref is not None and ref not in names:
            err(("alerts", alert, "annotations", "runbook"), *missing("runbook", ref, names, where))
