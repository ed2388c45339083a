"""A runbook file's JSON shape (``opsbook.runbook/1``): what `opsbook runbook list --json` /
`show --json` print and what the API answers for /api/v1/runbooks. A secret parameter's default
is never shown."""

from __future__ import annotations

from typing import Any

from ..runbooks.model import Checklist, Item, Prose, Runbook, Step
from ..runbooks.parse import display_path


def runbook_doc(rb: Runbook, *, full: bool = True) -> dict[str, Any]:
    """The JSON shape of a runbook: a summary, and with ``full`` every item of both sections."""
    actions = rb.actions()
    doc: dict[str, Any] = {
        "name": rb.name, "title": rb.title, "path": display_path(rb.path), "description": rb.description,
        "content_hash": rb.content_hash,
        "steps": sum(isinstance(a, Step) for a in actions),
        "checklist": sum(isinstance(a, Checklist) for a in actions),
        "rollback_steps": sum(isinstance(a, Step) for a in rb.actions("rollback")),
        "schedule": rb.schedule, "owner": rb.owner, "lock": rb.lock, "env": list(rb.env), "manual": rb.manual,
        "params": [{"name": p.name, "type": p.type, "default": None if p.secret else p.default,
                    "choices": list(p.choices), "required": p.required, "secret": p.secret,
                    "description": p.description} for p in rb.params],
    }
    if full:
        doc["items"] = [item_doc(i) for i in rb.items]
        doc["rollback"] = [item_doc(i) for i in rb.rollback]
    return doc


def item_doc(item: Item) -> dict[str, Any]:
    if isinstance(item, Prose):
        return {"type": "prose", "line": item.line, "text": item.text}
    if isinstance(item, Checklist):
        return {"type": "checklist", "line": item.line, "name": item.name, "text": item.text}
    return {"type": "step", "line": item.line, "name": item.name, "kind": item.kind, "body": item.body,
            "attrs": dict(item.attrs), "mutates": item.mutates, "confirm": item.confirm, "timeout": item.timeout,
            "retries": item.retries, "expect": list(item.expect), "save": [list(s) for s in item.save],
            "when": item.when, "continue_on_error": item.continue_on_error}
