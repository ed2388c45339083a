"""What would go wrong with a runbook that parses: steps that look mutating but are not marked,
mutating steps without a ``## Rollback``, secrets with defaults, attributes a kind does not take,
names a config does not define. ``opsbook runbook lint`` prints these (docs/commands/runbook-lint.md).

Heuristics on purpose: a warning asks the author to say what a step does (``mutates=true`` or
``mutates=false``), it never decides for them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import RunbookFormatError
from .model import Runbook, Step
from .parse import COMMON_ATTRS, display_path

if TYPE_CHECKING:
    from ..config.load import Config
    from .steps.base import StepKind

Level = Literal["error", "warning"]

_SQL_WRITE = re.compile(r"\b(delete|update|drop|truncate|alter|insert|create|grant|revoke|vacuum|reindex|merge"
                        r"|pg_terminate_backend|pg_cancel_backend)\b", re.IGNORECASE)
_SH_WRITE = re.compile(
    r"(?:^|[\s;&|(`])(?:rm|kill|pkill|killall|shutdown|reboot)\s"
    r"|\bsystemctl\s+(?:restart|stop|kill|disable)\b"
    r"|\bdocker(?:\s+compose)?\s+(?:rm|rmi|stop|restart|kill|down)\b"
    r"|\bkubectl\s+(?:delete|scale|rollout|drain|cordon|apply|patch)\b"
    r"|\b(?:fly|flyctl)\s+(?:scale|deploy|secrets\s+(?:set|unset)|machine\s+(?:stop|restart|destroy))\b",
    re.MULTILINE,
)
_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_MARK = "looks mutating; mark mutates=true (or mutates=false if it only reads)"


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    level: Level
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.level} {self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_error(e: RunbookFormatError) -> Finding:
    """A file that does not parse, as a finding (lint reports every file)."""
    return Finding(e.file, e.line or 1, "error", "format", e.detail)


def looks_mutating(step: Step) -> bool:
    """Whether the step's text reads as a change (whatever it is marked)."""
    if step.kind == "sh":
        return bool(_SH_WRITE.search(step.body)) or ("psql" in step.body and bool(_SQL_WRITE.search(step.body)))
    if step.kind == "sql":
        return bool(_SQL_WRITE.search(_SQL_COMMENT.sub(" ", step.body)))
    if step.kind == "http":
        return _http_method(step) in ("POST", "PUT", "PATCH", "DELETE")
    return False


def _http_method(step: Step) -> str:
    import yaml

    try:
        doc = yaml.safe_load(step.body)
    except yaml.YAMLError:
        return ""
    return str(doc.get("method", "GET")).upper() if isinstance(doc, dict) else ""


def lint(runbook: Runbook, kinds: Mapping[str, StepKind], cfg: Config | None = None) -> list[Finding]:
    """Findings for a parsed runbook, in line order. ``cfg`` (when given) checks the names the
    steps use: sql ``resource=``, wait ``check=``, and the ``env:`` environments."""
    file = display_path(runbook.path)
    out: list[Finding] = []

    def add(line: int, level: Level, code: str, message: str) -> None:
        out.append(Finding(file, line, level, code, message))

    steps = [a for a in (*runbook.actions(), *runbook.actions("rollback")) if isinstance(a, Step)]
    mutating_line = None
    names = {p.name for p in runbook.params}
    for step in steps:
        marked = "mutates" in step.attrs
        flagged = not marked and looks_mutating(step)
        if flagged:
            add(step.line, "warning", "looks-mutating", f"step {step.name!r} {_MARK}")
        if step.section == "main" and mutating_line is None and (step.mutates or (not marked and looks_mutating(step))):
            mutating_line = step.line
        kind = kinds.get(step.kind)
        if kind is not None:
            _attrs(step, kind, add)
            for message in kind.lint(step):
                if flagged and "mutates=" in message:
                    continue  # the same advice as looks-mutating above: say it once
                add(step.line, "warning", step.kind, f"step {step.name!r}: {message}")
        if step.when:
            _when(step, names, add)
        names |= {var for var, _ in step.save}
        if cfg is not None:
            _config_names(step, cfg, add)
    if mutating_line is not None and not runbook.actions("rollback"):
        add(mutating_line, "warning", "no-rollback",
            "this runbook changes things but has no ## Rollback section: say how to undo it")
    for p in runbook.params:
        if p.secret and p.default is not None:
            add(_param_line(runbook, p.name), "error", "secret-default",
                f"parameter {p.name!r} is secret but has a default written in the file; give it at run time")
    if runbook.routine:  # `opsbook serve` runs it: nobody gives parameters or answers prompts
        for p in runbook.params:
            if p.required and p.default is None:
                add(_param_line(runbook, p.name), "error", "scheduled-param",
                    f"parameter {p.name!r} is required, but a scheduled run gives no parameters: give it a default")
        for action in runbook.actions():
            if isinstance(action, Step) and action.confirm:
                add(action.line, "warning", "scheduled-confirm",
                    f"step {action.name!r} has confirm=true: `opsbook serve` never confirms, so each scheduled run "
                    "waits here until someone runs `opsbook runbook resume RUN --yes`")
    if cfg is not None:
        envs = cfg.model.environments
        for env in runbook.env:
            if envs and env not in envs:
                close = difflib.get_close_matches(env, list(envs), n=1)
                add(_param_line(runbook, "env", top=True), "error", "unknown-env",
                    f"env: no environment named {env!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return sorted(out, key=lambda f: f.line)


def _attrs(step: Step, kind: StepKind, add: Any) -> None:
    """Attributes the kind does not take, and its own attributes' values (its Attrs model)."""
    from pydantic import ValidationError

    own = {k: v for k, v in step.attrs.items() if k not in COMMON_ATTRS}
    model = kind.Attrs
    known = set(COMMON_ATTRS) | (set(model.model_fields) if model is not None else set())
    for key in own:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            add(step.line, "error", "unknown-attr", f"step {step.name!r}: {step.kind} takes no attribute {key!r}"
                + (f" (did you mean {close[0]!r}?)" if close else ""))
    if model is not None:
        try:
            model.model_validate({k: v for k, v in own.items() if k in model.model_fields})
        except ValidationError as e:
            for err in e.errors():
                where = ".".join(str(p) for p in err["loc"])
                add(step.line, "error", "bad-attr", f"step {step.name!r}: {where}: {err['msg']}")


def _when(step: Step, names: set[str], add: Any) -> None:
    from ..config.assertions import Assertion

    for read in sorted(Assertion.parse(step.when or "").names() - names):
        add(step.line, "warning", "when-name", f"step {step.name!r}: when reads {read!r}, which is neither a "
            "parameter nor saved by an earlier step")


def _config_names(step: Step, cfg: Config, add: Any) -> None:
    for attr, what, defined in (("resource", "resource", cfg.model.resources), ("check", "check", cfg.checks)):
        name = step.attrs.get(attr)
        if name is not None and "${" not in name and name not in defined:
            close = difflib.get_close_matches(name, list(defined), n=1)
            add(step.line, "error", f"unknown-{what}", f"step {step.name!r}: no {what} named {name!r} in the config"
                + (f" (did you mean {close[0]!r}?)" if close else ""))


def _param_line(runbook: Runbook, key: str, top: bool = False) -> int:
    """The front matter line where ``key`` is written (Param keeps no line of its own)."""
    try:
        lines = runbook.path.read_text().splitlines()
    except OSError:
        return 1
    indent = "" if top else r"\s+"
    pattern = re.compile("^" + indent + re.escape(key) + r"\s*:")
    for i, ln in enumerate(lines[1:], start=2):
        if ln.rstrip() in ("---", "..."):
            break
        if pattern.match(ln):
            return i
    return 1
