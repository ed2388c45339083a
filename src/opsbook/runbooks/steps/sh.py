"""``sh``: run the body with ``/bin/sh -e`` (``shell=bash``: bash -e -o pipefail) in a new process
group. The run's values reach the script as environment variables under their own names, so
``${name}`` is expanded by the shell and a secret never appears in the text shown or recorded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..model import Step
from ._common import attrs, base_env, maybe_json, remember_secrets, run_child, show_known
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from ...config.load import Config

# commands that change something, as a word at the start of a command (after ; | && or a newline)
MUTATING = re.compile(
    r"(?:^|[;&|(]\s*|\n\s*|\bsudo\s+)(rm|rmdir|mv|kill|pkill|killall|dd|mkfs\w*|truncate|shred|chmod|chown|"
    r"reboot|shutdown|systemctl\s+(?:restart|stop|start|reload|disable|enable)|service\s+\S+\s+(?:restart|stop|start)|"
    r"docker\s+(?:rm|stop|restart|kill|run)|kubectl\s+(?:delete|scale|apply|rollout|patch|edit)|"
    r"pg_restore|dropdb|createdb|psql|git\s+push|apt(?:-get)?\s+install|pip\s+install|crontab)\b")


class ShAttrs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shell: Literal["sh", "bash"] = Field(default="sh", description="sh (/bin/sh -e) or bash (bash -e -o pipefail)")


class ShStep:
    name: ClassVar[str] = "sh"
    Attrs: ClassVar[type[BaseModel] | None] = ShAttrs
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        a = attrs(step, ShAttrs)
        argv = ["/bin/sh", "-e", "-c", step.body] if a.shell == "sh" else \
            ["bash", "-e", "-o", "pipefail", "-c", step.body]
        # an unmarked sh step may do anything: only an explicit mutates=false lets dry-run run it
        read_only = "mutates" in step.attrs and not step.mutates
        return Rendered(kind=self.name, display=show_known(step.body, values, secret_names).rstrip("\n"),
                        target="local shell" if a.shell == "sh" else "local shell (bash)",
                        read_only=read_only, spec={"argv": argv})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        remember_secrets(ctx.values, ctx.secret_names)
        env = {**base_env(), **ctx.values}
        done = run_child(rendered.spec["argv"], env=env, cwd=ctx.base_dir, timeout=ctx.timeout, emit=ctx.emit)
        obs: dict[str, Any] = {
            "exit_code": done.exit_code,
            "stdout": done.out.text(),
            "stderr": done.err.text(),
            "json": maybe_json(done.out.raw()),
            "stdout_bytes": done.out.total,
            "stderr_bytes": done.err.total,
            "duration": done.duration,
        }
        return StepOutcome(observations=obs, output=done.combined.text(), output_bytes=done.combined.total,
                           error=done.error, timed_out=done.timed_out)

    def lint(self, step: Step) -> list[str]:
        if "mutates" in step.attrs:
            return []
        m = MUTATING.search(step.body)
        if m is None:
            return []
        return [f"step {step.name!r} runs `{m.group(1)}`, which changes things, but is not marked mutates=true "
                "(write mutates=true, or mutates=false if it only reads)"]


KIND = ShStep()
