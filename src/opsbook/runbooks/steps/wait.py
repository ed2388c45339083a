"""``wait``: poll until a condition holds or the step's deadline passes. Either ``check=NAME``
(an opsbook check, run by the runner: met when it passes) or an assertion in the body over the
run's values and, with ``url=``, a fresh GET of that URL each attempt (status, body, json...)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...config.assertions import Assertion
from ...config.references import missing
from ...config.secrets import redactor
from ...durations import PositiveDuration, format_duration
from ...errors import AssertionSyntaxError, UsageError
from ..model import Step
from ..template import substitute
from ._common import attrs, remember_secrets, run_sync
from ._request import request
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from ...config.load import Config


class WaitAttrs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str | None = Field(default=None, description="an opsbook check; met when it passes")
    url: str | None = Field(default=None, description="GET this URL each attempt; its observations join the values")
    interval: PositiveDuration = Field(default=5.0, description="time between attempts")


def _assertions(step: Step) -> list[Assertion]:
    parts = [p.strip() for line in step.body.splitlines() for p in line.split(";")]
    try:
        return [Assertion.parse(p) for p in parts if p and not p.startswith("#")]
    except AssertionSyntaxError as e:
        raise UsageError(f"line {step.line}: step {step.name!r}: {e.message}",
                         hint="the body is an assertion, e.g. status == 200 and json.ready == true") from None


class WaitStep:
    name: ClassVar[str] = "wait"
    Attrs: ClassVar[type[BaseModel] | None] = WaitAttrs
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("met == true",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        a = attrs(step, WaitAttrs)
        every = f"every {format_duration(a.interval)}"
        if a.check is not None:
            if a.check not in cfg.checks:
                msg, hint = missing("check", a.check, cfg.checks)
                raise UsageError(f"step {step.name!r}: {msg}", hint=hint)
            return Rendered(kind=self.name, display=f"wait until check {a.check} passes ({every})",
                            target=f"check {a.check}", read_only=True,
                            spec={"check": a.check, "interval": a.interval})
        exprs = _assertions(step)
        if not exprs:
            raise UsageError(f"line {step.line}: step {step.name!r}: a wait needs check=NAME or an assertion "
                             "in its body")
        url = substitute(a.url, values, secret_names) if a.url else None
        shown_url = redactor.text(substitute(a.url, values, secret_names, mask=True)) if a.url else None
        display = f"wait until {' and '.join(e.expr for e in exprs)}"
        display += f" (GET {shown_url}, {every})" if shown_url else f" ({every})"
        return Rendered(kind=self.name, display=display, target=shown_url or "the run's values", read_only=True,
                        spec={"assertions": [e.expr for e in exprs], "url": url, "interval": a.interval})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        remember_secrets(ctx.values, ctx.secret_names)
        spec = rendered.spec
        deadline = time.monotonic() + ctx.timeout
        attempts, met = 0, False
        last: dict[str, Any] = {}
        lines: list[str] = []
        start = time.monotonic()
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            if spec.get("check"):
                met, seen, why = _check(spec["check"], ctx, remaining)
            else:
                met, seen, why = _assertion(spec, ctx, remaining)
            # an attempt the deadline cut short says less than the last one that finished
            if seen is not None or not last:
                last = seen if seen is not None else {"status": "error", "summary": "timed out"}
            line = f"attempt {attempts}: {'met' if met else 'not yet'}{': ' + why if why else ''}\n"
            lines.append(line)
            if ctx.emit is not None:
                ctx.emit(redactor.text(line).encode())
            remaining = deadline - time.monotonic()
            if met or remaining <= 0:
                break
            time.sleep(min(spec["interval"], remaining))
        obs = {"met": met, "attempts": attempts, "last": redactor.redact(last),
               "duration": round((time.monotonic() - start) * 1000, 3)}
        # keep the first and last attempts' lines: a long wait is many identical lines
        kept = lines if len(lines) <= 40 else [*lines[:20], f"[... {len(lines) - 40} attempts ...]\n", *lines[-20:]]
        text = redactor.text("".join(kept))
        return StepOutcome(obs, output=text, output_bytes=len(text.encode()))

    def lint(self, step: Step) -> list[str]:
        try:
            a = attrs(step, WaitAttrs)
            if a.check is None:
                _assertions(step)
        except UsageError as e:
            return [e.message]
        if a.check is None and not step.body.strip():
            return [f"step {step.name!r}: a wait needs check=NAME or an assertion in its body"]
        if a.check is not None and step.body.strip():
            return [f"step {step.name!r}: check= is given, so the body's assertion is ignored"]
        return []


def _check(name: str, ctx: StepContext, remaining: float) -> tuple[bool, dict[str, Any] | None, str]:
    from ...checks.registry import KINDS
    from ...runner import close_shared, run_one

    async def once() -> Any:
        shared: dict[str, Any] = {}  # the attempt's HTTP clients and pools, closed with it
        try:
            return await asyncio.wait_for(run_one(name, ctx.cfg, KINDS, shared), max(0.01, remaining))
        finally:
            await close_shared(shared)

    try:
        result = run_sync(once())
    except TimeoutError:
        return False, None, "timed out"
    last = {"status": result.status, "summary": result.summary, "observations": result.observations}
    return result.ok, last, f"{result.status}: {result.summary}"


def _assertion(spec: Mapping[str, Any], ctx: StepContext,
               remaining: float) -> tuple[bool, dict[str, Any] | None, str]:
    obs: dict[str, Any] = dict(ctx.values)
    last: dict[str, Any] = {}
    if spec.get("url"):
        seen, _, error = request("GET", spec["url"], headers={}, body=None, json_body=None,
                                 timeout=max(0.01, remaining))
        if error is not None:
            return False, {"error": error, **seen}, error
        obs.update(seen)
        last = seen
    outcomes = [Assertion.parse(e).evaluate(obs) for e in spec["assertions"]]
    failed = [o for o in outcomes if not o.ok]
    last = {**last, "assertions": [o.to_dict() for o in outcomes]}
    return not failed, last, failed[0].message or failed[0].expr if failed else ""


KIND = WaitStep()
