"""PLACEHOLDER until helper rbs lands the step kinds: only a minimal ``sh``. Replaced at merge."""

from __future__ import annotations

from ...registry import Registry
from .base import StepKind
from .sh import Sh

STEPS: Registry[StepKind] = Registry("step kind", {"sh": Sh()}, docs="steps/{name}.md", model=lambda k: k.Attrs)
