"""``opsbook runbook list|show|lint``: the runbook files themselves (docs/runbooks.md). Running
them (run, resume, approve ...) is cli/runbook_run.py, attached to the same group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from . import runbook_due, runbook_run
from .common import Ctx, common, err, out

if TYPE_CHECKING:
    from ..runbooks.lint import Finding
    from ..runbooks.model import Runbook


@click.group("runbook")
def runbook_group() -> None:
    """Runbooks: Markdown procedures whose fenced code blocks are steps (list, show, lint, run ...)."""


def runbook_doc(rb: Runbook, *, full: bool = True) -> dict[str, Any]:
    """The JSON shape of a runbook (render/runbook_doc.py: the API answers the same)."""
    from ..render.runbook_doc import runbook_doc as doc

    return doc(rb, full=full)


@runbook_group.command("list")
@common
def runbook_list(ctx: Ctx) -> int:
    """Every runbook in runbooks.dir, and every file there that does not parse (exit 2)."""
    from rich.markup import escape

    from ..render.table import columns_table
    from ..runbooks.load import load_all_with_errors, runbook_dir
    from ..runbooks.parse import display_path

    cfg = ctx.config
    books, broken = load_all_with_errors(cfg)
    if ctx.json:
        ctx.emit({"schema": "opsbook.runbooks/1", "dir": display_path(runbook_dir(cfg)),
                  "runbooks": [runbook_doc(rb, full=False) for rb in books.values()],
                  "errors": [{"name": n, **e.to_dict()} for n, e in broken.items()]})
    elif not books and not broken:
        out.print(f"no runbooks in {escape(display_path(runbook_dir(cfg)))} (runbooks.dir)")
    else:
        t = columns_table("name", "title", "steps", "checklist", "schedule", "owner", "lock")
        for rb in books.values():
            d = runbook_doc(rb, full=False)
            t.add_row(escape(rb.name), escape(rb.title), str(d["steps"]), str(d["checklist"]),
                      escape(rb.schedule or "-"), escape(rb.owner or "-"), escape(rb.lock or "-"))
        out.print(t)
    for e in broken.values():
        err.print(f"error: {e.message}", markup=False, style="red", soft_wrap=True)
    return 2 if broken else 0


@runbook_group.command("show")
@click.argument("name")
@common
def runbook_show(ctx: Ctx, name: str) -> int:
    """The runbook as a document: prose, each step with its kind and attributes, checklist items,
    the rollback section. --json gives the parsed form."""
    from ..runbooks.load import find

    rb = find(ctx.config, name)
    if ctx.json:
        ctx.emit({"schema": "opsbook.runbook/1", **runbook_doc(rb)})
        return 0
    _render(rb)
    return 0


def _render(rb: Runbook) -> None:
    from rich.markdown import Markdown
    from rich.markup import escape
    from rich.padding import Padding
    from rich.syntax import Syntax

    from ..runbooks.model import Checklist, Prose

    out.print(f"[bold]{escape(rb.title)}[/]  [dim]{escape(rb.name)}[/]")
    if rb.description:
        out.print(escape(rb.description))
    meta = [("env", ", ".join(rb.env)), ("lock", rb.lock), ("schedule", rb.schedule), ("owner", rb.owner)]
    for key, value in meta:
        if value:
            out.print(f"  [dim]{key}:[/] {escape(value)}")
    for p in rb.params:
        default = "***" if p.secret else p.default
        bits = [p.type, f"default {default}" if default is not None else "", "required" if p.required else "",
                f"one of {', '.join(p.choices)}" if p.choices else "", "secret" if p.secret else ""]
        out.print(f"  [dim]param[/] {escape(p.name)} ({escape(', '.join(b for b in bits if b))})"
                  + (f": {escape(p.description)}" if p.description else ""))
    for title, items in (("", rb.items), ("Rollback", rb.rollback)):
        if title and items:
            out.print(f"\n[bold]## {title}[/]")
        for item in items:
            if isinstance(item, Prose):
                out.print(Markdown(item.text))
            elif isinstance(item, Checklist):
                out.print(f"[cyan]☐[/] {escape(item.text)}  [dim]({item.name}, line {item.line})[/]")
            else:
                attrs = " ".join(f"{k}={v}" for k, v in item.attrs.items() if k != "name")
                out.print(f"[bold cyan]▶ {escape(item.name)}[/] [magenta]{escape(item.kind)}[/] "
                          f"{escape(attrs)}  [dim](line {item.line})[/]")
                lexer = "bash" if item.kind == "sh" else "sql" if item.kind == "sql" else "text"
                out.print(Padding(Syntax(item.body.rstrip("\n"), lexer, theme="ansi_dark",
                                         background_color="default"), (0, 0, 0, 2)))


@runbook_group.command("lint")
@click.argument("name", required=False)
@click.option("--strict", is_flag=True, help="exit 1 when there are warnings (errors always exit 2)")
@common
def runbook_lint(ctx: Ctx, name: str | None, strict: bool) -> int:
    """Check runbooks (all, or NAME): format errors, unmarked steps that look mutating, undefined
    names. Exit 2 on errors, 1 on warnings with --strict, else 0."""
    from ..errors import RunbookFormatError
    from ..runbooks.lint import from_error, lint
    from ..runbooks.load import find, load_all_with_errors
    from ..runbooks.steps.registry import STEPS

    cfg = ctx.config
    findings: list[Finding] = []
    books: dict[str, Runbook] = {}
    if name is not None:
        try:
            books[name] = find(cfg, name)
        except RunbookFormatError as e:
            findings.append(from_error(e))
    else:
        books, broken = load_all_with_errors(cfg)
        findings.extend(from_error(e) for e in broken.values())
    for rb in books.values():
        findings.extend(lint(rb, STEPS, cfg))
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    code = 2 if errors else 1 if warnings and strict else 0
    if ctx.json:
        ctx.emit({"schema": "opsbook.runbook-lint/1", "ok": code == 0, "runbooks": sorted(books),
                  "errors": errors, "warnings": warnings, "findings": [f.to_dict() for f in findings]})
        return code
    for f in findings:
        style = "red" if f.level == "error" else "yellow"
        out.print(f"{f.file}:{f.line}: [{style}]{f.level}[/] {f.code} {_esc(f.message)}", soft_wrap=True)
    checked = len(books) + sum(f.code == "format" for f in findings)
    err.print(f"{checked} runbook(s): {errors} error(s), {warnings} warning(s)", markup=False)
    return code


for _command in (*runbook_run.COMMANDS, runbook_due.due_cmd):
    runbook_group.add_command(_command)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)
