"""``approval``: the run pauses until an operator other than the one running it approves (or
rejects) from the CLI, the API or the dashboard. The body is the question shown to them. The
runner never calls ``run()``: it records the pause and waits (ops/runbook.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...errors import UsageError
from ..model import Step
from ._common import attrs, show_known
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from ...config.load import Config


class ApprovalAttrs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approvers: str | None = Field(default=None, description="comma-separated operators who may approve; "
                                                            "default: any operator other than the runner")


class ApprovalStep:
    name: ClassVar[str] = "approval"
    Attrs: ClassVar[type[BaseModel] | None] = ApprovalAttrs
    pauses: ClassVar[bool] = True
    default_expect: ClassVar[tuple[str, ...]] = ()

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        a = attrs(step, ApprovalAttrs)
        who = approvers(a)
        question = show_known(step.body.strip(), values, secret_names) or f"approve step {step.name!r}?"
        target = f"approval by {', '.join(who)}" if who else "approval by an operator other than the runner"
        return Rendered(kind=self.name, display=question, target=target, read_only=True,
                        spec={"approvers": who})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        raise UsageError("an approval step is not run: the runner pauses for a person instead",
                         hint="this is a bug in the caller: check StepKind.pauses before run()")

    def lint(self, step: Step) -> list[str]:
        if not step.body.strip():
            return [f"step {step.name!r}: an approval without a question; write what the approver confirms"]
        return []


def approvers(a: ApprovalAttrs) -> list[str]:
    return [w.strip() for w in (a.approvers or "").split(",") if w.strip()]


KIND = ApprovalStep()
