"""Config for executable runbooks (``runbooks:``): where the Markdown files live and the run
defaults. The runbooks themselves are Markdown files (opsbook/runbooks/, docs/runbooks.md)."""

from __future__ import annotations

from pydantic import Field

from ..durations import PositiveDuration
from .resources import Model


class Runbooks(Model):
    dir: str = Field(default="runbooks", description="the directory of runbook files (*.md), relative to the "
                                                     "config's directory")
    step_timeout: PositiveDuration = Field(default=600.0, description="a step's timeout when it sets none")
    approval_ttl: PositiveDuration = Field(default=3600.0, description="how long an approval step waits "
                                                                       "before the run fails")
    checklist_timeout: PositiveDuration = Field(default=3600.0, description="how long a non-interactive run "
                                                                            "waits for a checklist item")
    require_approval: list[str] = Field(default_factory=list, description="environments where a "
                                        "confirm=true step needs a second operator's approval")
