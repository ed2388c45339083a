"""What a step kind is. A kind renders a step (parameters resolved, its target named, whether it
only reads) and runs a rendered step within a deadline, writing its output to a bounded sink.

The runner (ops/runbook.py) owns everything around it: ``when``, confirmation, retries, the
``expect`` assertions over the outcome's observations, ``save``, recording, rollback. A kind with
``pauses = True`` (approval) is not run at all: the runner waits for a person instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..model import Step

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...config.load import Config

HEAD = TAIL = 64 * 1024  # bytes of output kept from the start and from the end of a step


@dataclass(frozen=True)
class Rendered:
    """A step ready to run, and what dry-run and the record show.

    ``display`` is the command as it will run with parameter values substituted and secret
    values replaced by ***; ``target`` names what it acts on (host, database resource, URL,
    "local shell"); ``read_only`` says whether dry-run may run it for real; ``spec`` is the
    kind's own data for run() (may hold secret values: never recorded or shown)."""

    kind: str
    display: str
    target: str
    read_only: bool
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """What a running step may use. ``values`` are the run's parameters and saved values (secret
    ones included, unredacted: kinds pass them to the child, never into ``display``);
    ``secret_names`` says which are secret; ``emit`` receives output chunks as they come (the
    terminal's live view, or nothing)."""

    cfg: Config
    base_dir: Path
    timeout: float  # seconds for this attempt; the kind must stop its work by then
    values: Mapping[str, str]
    secret_names: frozenset[str] = frozenset()
    environment: str | None = None
    emit: Callable[[bytes], None] | None = None


@dataclass
class StepOutcome:
    """What a kind saw: ``observations`` feed ``expect`` and ``save`` (exit_code, stdout, stderr,
    json, status, rows, row_count, duration in ms ...); ``output`` is the bounded text kept for the
    record; ``error`` is set when the step could not do its work at all (timeout, unreachable,
    bad SQL), as opposed to doing it and failing its expectations."""

    observations: dict[str, Any]
    output: str = ""
    output_bytes: int = 0  # everything the step wrote, of which ``output`` keeps head and tail
    error: str | None = None
    timed_out: bool = False

    @property
    def exit_code(self) -> int | None:
        code = self.observations.get("exit_code")
        return code if isinstance(code, int) else None


class StepKind(Protocol):
    name: ClassVar[str]
    Attrs: ClassVar[type[BaseModel] | None]  # the kind's own attributes in the info string, or None
    pauses: ClassVar[bool]
    default_expect: ClassVar[tuple[str, ...]]  # assertions when the step has no expect= (sh: exit_code == 0)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered: ...

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome: ...

    def lint(self, step: Step) -> list[str]:
        """Warnings about a step as written: looks mutating but is not marked ``mutates=true``..."""
        ...
