"""A runbook as parse.py reads it: front matter plus an ordered list of items (prose, steps,
checklist items) in its main section and its ``## Rollback`` section.

Plain frozen dataclasses: the runner (ops/runbook.py), lint, the renderers and the dashboard all
read this one shape. Line numbers are 1-based lines of the Markdown file, for file:line errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ParamType = Literal["str", "int", "float", "bool"]
Section = Literal["main", "rollback"]


@dataclass(frozen=True)
class Param:
    """One ``params:`` entry of the front matter."""

    name: str
    type: ParamType = "str"
    default: Any = None
    choices: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False  # never rendered, recorded or shown: redacted as soon as it is given
    description: str = ""


@dataclass(frozen=True)
class Step:
    """A fenced code block: ```` ```sh {name=dump mutates=true timeout=10m} ````.

    ``attrs`` holds every attribute as written (strings); the common ones are parsed into the
    fields below, kind-specific ones (``resource=`` for sql, ``check=`` for wait) stay in attrs
    for the step kind to read. ``expect`` are assertions (config/assertions.py) over the step's
    observations; ``save`` pairs are (value name, observation path) captured for later steps as
    ``${name}``; ``when`` is an assertion over the values (params and saved) deciding whether the
    step runs at all.
    """

    name: str
    kind: str
    body: str
    line: int
    section: Section = "main"
    attrs: Mapping[str, str] = field(default_factory=dict)
    mutates: bool = False
    confirm: bool = False
    timeout: float | None = None  # seconds; None: the runbook default (runbooks.step_timeout)
    retries: int = 0
    expect: tuple[str, ...] = ()
    save: tuple[tuple[str, str], ...] = ()
    when: str | None = None
    continue_on_error: bool = False


@dataclass(frozen=True)
class Checklist:
    """A task-list item (``- [ ] confirm the backup finished``): the operator acknowledges it,
    in order, before the next step runs. ``name`` is ``check-N`` (N counts items in the file)."""

    name: str
    text: str
    line: int
    section: Section = "main"


@dataclass(frozen=True)
class Prose:
    """Markdown between steps, kept so a run reads as the document it was."""

    text: str
    line: int
    section: Section = "main"


Item = Step | Checklist | Prose
Action = Step | Checklist  # what a run performs, in order


@dataclass(frozen=True)
class Runbook:
    name: str  # the file's stem: `opsbook runbook run NAME`
    path: Path
    title: str
    content_hash: str  # sha256 of the file's bytes, stored with every run
    description: str = ""
    params: tuple[Param, ...] = ()
    env: tuple[str, ...] = ()  # environments it may run in; empty: any
    lock: str | None = None
    schedule: str | None = None  # cron
    owner: str | None = None
    grace: float | None = None  # seconds a due task may stay undone before it is overdue; None: runbooks.grace
    items: tuple[Item, ...] = ()  # the main section, in document order
    rollback: tuple[Item, ...] = ()  # the ``## Rollback`` section

    def actions(self, section: Section = "main") -> list[Action]:
        """The steps and checklist items of a section, in order (what a run walks)."""
        items = self.items if section == "main" else self.rollback
        return [i for i in items if not isinstance(i, Prose)]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def manual(self) -> bool:
        """Has checklist items or approval steps: a scheduled run becomes a due task instead."""
        return any(isinstance(a, Checklist) or (isinstance(a, Step) and a.kind == "approval") for a in self.actions())

    @property
    def routine(self) -> bool:
        """Scheduled and without manual items: ``opsbook serve`` runs it on its schedule."""
        return self.schedule is not None and not self.manual
