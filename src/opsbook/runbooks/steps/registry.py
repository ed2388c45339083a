"""PLACEHOLDER (helper rbr) until the step-kinds helper lands: the lead replaces this file."""

from __future__ import annotations

from ...registry import Registry
from .approval import Approval
from .base import StepKind
from .sh import Sh

STEPS: Registry[StepKind] = Registry("step kind", {"sh": Sh(), "approval": Approval()}, docs="steps/{name}.md",
                                     model=lambda k: k.Attrs)
