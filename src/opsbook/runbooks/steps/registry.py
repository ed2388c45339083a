"""The explicit registry of runbook step kinds: one line per kind. grep here to find them all.
Each kind's module holds its ``Attrs`` model (its own info-string attributes), ``render``, ``run``
and ``lint`` (see base.py); docs/steps/<kind>.md documents it."""

from __future__ import annotations

from ...registry import Registry
from . import approval, http, opsbook_cmd, sh, sql, wait
from .base import StepKind

STEPS: Registry[StepKind] = Registry("step kind", {
    "sh": sh.KIND,
    "sql": sql.KIND,
    "http": http.KIND,
    "opsbook": opsbook_cmd.KIND,
    "wait": wait.KIND,
    "approval": approval.KIND,
}, docs="steps/{name}.md", model=lambda k: k.Attrs)
