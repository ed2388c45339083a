"""PLACEHOLDER (helper rbr): the approval kind pauses the run; the runner waits for a person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from ..model import Step
from ..template import substitute
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...config.load import Config


class Approval:
    name: ClassVar[str] = "approval"
    Attrs: ClassVar[type[BaseModel] | None] = None
    pauses: ClassVar[bool] = True
    default_expect: ClassVar[tuple[str, ...]] = ()

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str], cfg: Config) -> Rendered:
        text = substitute(step.body.strip(), values, secret_names, mask=True)
        return Rendered("approval", text or "approve to continue", "a second operator", True)

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        return StepOutcome({})

    def lint(self, step: Step) -> list[str]:
        return []
