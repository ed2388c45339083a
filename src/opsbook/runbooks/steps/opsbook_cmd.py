"""``opsbook``: one opsbook command line (without the word ``opsbook``), run as a child
``python -m opsbook ...`` against the run's own config and environment."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from ...config.secrets import REDACTED, redactor, secret_env_names
from ...errors import UsageError
from ..model import Step
from ..template import refs, substitute
from ._common import base_env, maybe_json, remember_secrets, run_child
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from ...config.load import Config

# commands that only read (dry-run runs them for real); everything else is taken as mutating
READ_ONLY: tuple[tuple[str, ...], ...] = (
    ("check",), ("gate",), ("backup", "list"), ("backup", "verify"), ("incident", "list"), ("incident", "show"),
    ("incident", "stats"), ("slo",), ("alerts", "status"), ("runbook", "list"), ("runbook", "show"),
    ("runbook", "lint"), ("runbook", "record"), ("runbook", "runs"), ("oncall", "now"), ("oncall", "show"),
    ("config", "validate"), ("config", "show"), ("heartbeats", "status"), ("history",), ("kinds",),
    ("integrity", "list"), ("silence", "list"), ("notify", "status"), ("notify", "outbox"), ("notify", "groups"),
    *(("db", r) for r in ("connections", "activity", "locks", "slow", "indexes", "tables", "cache", "replication",
                          "vacuum", "snapshots")),
)
REFUSED = ("serve", "demo")  # long-running: not a step


def _words(argv: list[str]) -> list[str]:
    """The command path: the leading words before the first option."""
    out = []
    for a in argv:
        if a.startswith("-"):
            break
        out.append(a)
    return out


def read_only(argv: list[str]) -> bool:
    words = _words(argv)
    if words[:1] == ["status"]:
        return words[1:2] != ["notice"]  # `status` shows; `status notice` posts one
    return any(tuple(words[:len(k)]) == k for k in READ_ONLY)


def _argv(step: Step) -> list[str]:
    try:
        argv = shlex.split(step.body, comments=True)
    except ValueError as e:
        raise UsageError(f"line {step.line}: step {step.name!r}: cannot split the command line: {e}") from None
    if argv[:1] == ["opsbook"]:
        argv = argv[1:]
    if not argv:
        raise UsageError(f"line {step.line}: step {step.name!r}: the body is empty",
                         hint="write one opsbook command line, e.g. `check db-ready`")
    if argv[0] in REFUSED:
        raise UsageError(f"line {step.line}: step {step.name!r}: `opsbook {argv[0]}` runs until stopped; "
                         "it cannot be a step")
    return argv


class OpsbookStep:
    name: ClassVar[str] = "opsbook"
    Attrs: ClassVar[type[BaseModel] | None] = None
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        argv = _argv(step)
        remember_secrets(values, secret_names)
        # split first, then substitute: a value with a space stays one argument
        real = [substitute(a, values, secret_names) for a in argv]
        shown = [REDACTED if any(n in secret_names for n in refs(a)) else substitute(a, values, secret_names)
                 for a in argv]
        target = f"opsbook config {cfg.path}" + (f" (env {cfg.env})" if cfg.env else "")
        return Rendered(kind=self.name, display=redactor.text("opsbook " + shlex.join(shown)), target=target,
                        read_only=read_only(argv) and not step.mutates,
                        spec={"argv": real, "config": str(cfg.path), "env": cfg.env})

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        remember_secrets(ctx.values, ctx.secret_names)
        spec = rendered.spec
        env = base_env()
        # The child is opsbook itself reading the same config: it must resolve that config's
        # {env: NAME} secret references, so exactly those variables pass (the sh kind withholds
        # them; here the reader is the program that owns them). The config and environment go by
        # variable, because --config/--env are options of each command, not of `opsbook`.
        env.update({k: os.environ[k] for k in secret_env_names() if k in os.environ})
        env.update({k: os.environ[k] for k in ("OPSBOOK_STORE", "PYTHONPATH") if k in os.environ})
        env["OPSBOOK_CONFIG"] = spec["config"]
        if spec["env"]:
            env["OPSBOOK_ENV"] = spec["env"]
        env.setdefault("NO_COLOR", "1")
        env.setdefault("COLUMNS", "200")
        argv = [sys.executable, "-m", "opsbook", *spec["argv"]]
        done = run_child(argv, env=env, cwd=ctx.base_dir, timeout=ctx.timeout, emit=ctx.emit)
        obs: dict[str, Any] = {
            "exit_code": done.exit_code,
            "stdout": done.out.text(),
            "stderr": done.err.text(),
            "json": maybe_json(done.out.raw()),
            "duration": done.duration,
        }
        return StepOutcome(obs, output=done.combined.text(), output_bytes=done.combined.total,
                           error=done.error, timed_out=done.timed_out)

    def lint(self, step: Step) -> list[str]:
        try:
            argv = _argv(step)
        except UsageError as e:
            return [e.message]
        if not read_only(argv) and not step.mutates:
            return [f"step {step.name!r} runs `opsbook {' '.join(_words(argv))}`, which changes things, "
                    "but is not marked mutates=true"]
        return []


KIND = OpsbookStep()
