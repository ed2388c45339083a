"""``opsbook db`` output: a report's sections as Rich tables, the whole diagnosis as one Markdown
page, and the remediation plan (what will be hit, what is spared and why)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..dbdiag import REPORTS
from ..dbdiag.base import Section, age
from .markdown import cell

if TYPE_CHECKING:  # the Markdown page needs no Rich: `db report` skips importing it
    from rich.console import Console

STATUS = {"ok": "", "unavailable": "not available", "error": "failed"}


def _problem(doc: dict[str, Any]) -> list[str]:
    lines = [f"{STATUS.get(doc['status'], doc['status'])}: {doc.get('reason', '')}"]
    if doc.get("needs"):
        lines.append(f"needs: {doc['needs']}")
    if doc.get("fix"):
        lines.append(f"fix: {doc['fix']}")
    return lines


def print_report(console: Console, name: str, doc: dict[str, Any]) -> None:
    from rich.markup import escape

    module = REPORTS[name]
    console.print(f"[bold]{escape(module.TITLE)}[/]")
    if doc["status"] != "ok":
        for line in _problem(doc):
            console.print(f"  [yellow]{escape(line)}[/]")
        return
    for s in module.sections(doc):
        _print_section(console, s)


def _print_section(console: Console, s: Section) -> None:
    from rich.markup import escape

    from .table import columns_table

    console.print(f"\n[bold]{escape(s.title)}[/]")
    for n in s.notes:
        console.print(f"  [yellow]{escape(n)}[/]")
    if not s.rows:
        console.print(f"  [dim]{escape(s.empty)}[/]")
        return
    t = columns_table(*s.columns)
    for r in s.rows:
        t.add_row(*(escape(c) for c in r))
    console.print(t)


def _cell(text: str) -> str:
    # a backslash or a backtick too: no escapes and no code spans from the data
    return cell(text.replace("\\", "\\\\").replace("`", "'"))


def _md_section(s: Section) -> list[str]:
    out = [f"### {s.title}", ""]
    out += [f"> {n}" for n in s.notes] + ([""] if s.notes else [])
    if not s.rows:
        return [*out, f"_{s.empty}_", ""]
    out.append("| " + " | ".join(s.columns) + " |")
    out.append("|" + "|".join("---" for _ in s.columns) + "|")
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in s.rows]
    return [*out, ""]


def markdown(doc: dict[str, Any]) -> str:
    """The whole ``opsbook.db-report/1`` document as one Markdown page, a section per report."""
    lines = [f"# Database report: {doc['resource']}", "",
             f"Taken at {doc['taken_at']} on PostgreSQL {doc['server_version']} by opsbook.", ""]
    for name, rep in doc["reports"].items():
        module = REPORTS[name]
        lines += [f"## {module.TITLE} (`{name}`)", ""]
        if rep["status"] != "ok":
            lines += [f"> {_cell(line)}" for line in _problem(rep)] + [""]
            continue
        for s in module.sections(rep):
            lines += _md_section(s)
    return "\n".join(lines).rstrip() + "\n"


def print_plan(console: Console, plan: dict[str, Any]) -> None:
    from rich.markup import escape

    from .table import columns_table

    verb = plan["action"]
    hits, skipped = plan["hit"], plan["skipped"]
    console.print(f"[bold]{verb} on {escape(plan['resource'])}[/]: {len(hits)} session(s)")
    if hits:
        t = columns_table("pid", "user", "application", "client", "state", "age", "query", *(
            ("result",) if any(s.get("result") for s in hits) else ()))
        for s in hits:
            row = [str(s["pid"]), s["user"], s["application"], s["client"], s["state"], age(s["age_s"]), s["query"]]
            if any(x.get("result") for x in hits):
                row.append(s.get("result", ""))
            t.add_row(*(escape(c) for c in row))
        console.print(t)
    for s in skipped:
        console.print(f"  [dim]spared pid {s['pid']} ({escape(s['user'])}, {escape(s['application'] or '-')}): "
                      f"{escape(s['skipped'])}[/]")
