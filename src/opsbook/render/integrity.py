"""Integrity results for people: a Rich table with the evidence, and Markdown for reports.

The drill report embeds ``integrity_markdown``; both show only what the result holds, which
the engine has already stripped of secret-looking columns.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config.secrets import redactor
from ..integrity.result import CheckOutcome, IntegrityResult
from .markdown import cell
from .table import STYLE, status_text

_MARKDOWN_STATUS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "💥 error"}


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _new(c: CheckOutcome) -> str:
    if c.new_violations is None:
        return ""
    return f"+{c.new_violations}" if c.new_violations else "-"


def _cell(v: Any, width: int = 40) -> str:
    s = "NULL" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    s = redactor.text(s)
    return s if len(s) <= width else s[: width - 1] + "…"


def integrity_table(result: IntegrityResult) -> Table:
    t = Table(title=f"integrity {result.suite} · {result.target}", header_style="bold", expand=False)
    t.add_column("status", no_wrap=True)
    t.add_column("check", no_wrap=True)
    t.add_column("violations", justify="right", no_wrap=True)
    t.add_column("new?", justify="right", no_wrap=True)
    t.add_column("time", justify="right", no_wrap=True)
    t.add_column("message", overflow="fold")
    for c in result.checks:
        t.add_row(status_text(c.status), escape(c.name), str(c.violations), _new(c), _ms(c.duration_ms),
                  escape(redactor.text(c.message)))
    return t


def samples_table(samples: list[dict[str, Any]]) -> Table:
    t = Table(show_header=True, header_style="dim", box=None, pad_edge=False)
    columns = list(dict.fromkeys(k for row in samples for k in row))
    for c in columns:
        t.add_column(escape(c), overflow="fold")
    for row in samples:
        t.add_row(*(escape(_cell(row.get(c))) for c in columns))
    return t


def render_integrity(console: Console, result: IntegrityResult) -> None:
    console.print(integrity_table(result))
    for c in result.checks:
        if c.status == "pass":
            continue
        console.print(f"\n[bold]{escape(c.name)}[/] {status_text(c.status)} {escape(redactor.text(c.message))}")
        if c.samples:
            console.print(f"  [dim]{len(c.samples)} sample row(s):[/]")
            console.print(samples_table(c.samples))
        if c.sql:
            console.print("  [dim]the statement:[/]" if c.status == "error" else "  [dim]find them with:[/]")
            for line in redactor.text(_terminated(c.sql)).splitlines():
                console.print(f"    {escape(line)}", soft_wrap=True)
        if c.hint:
            console.print(f"  [dim]hint:[/] {escape(redactor.text(c.hint))}", soft_wrap=True)
    counts = result.counts
    parts = [f"[{STYLE[s]}]{counts[s]} {s}[/]" for s in ("pass", "warn", "fail", "error") if counts[s]]
    new = result.new_since_last_run
    tail = "" if new is None else f"; new since last run: {', '.join(new) if new else 'nothing'}"
    console.print("\n" + ", ".join(parts) + f" in {_ms(result.duration_ms)}{escape(tail)}")


def _terminated(sql: str) -> str:
    return sql if sql.rstrip().endswith(";") else sql.rstrip() + ";"


def _md(text: str) -> str:
    return cell(redactor.text(text))


def integrity_markdown(result: IntegrityResult, heading: str = "###") -> str:
    """A Markdown section: summary line, a table of checks, then samples and SQL of failures."""
    counts = result.counts
    lines = [
        f"{heading} Integrity: {result.suite}",
        "",
        f"{'**OK**' if result.ok else '**FAILED**'}: "
        + ", ".join(f"{counts[s]} {s}" for s in ("pass", "warn", "fail", "error") if counts[s])
        + f" · {_md(result.target)} · {_ms(result.duration_ms)}",
    ]
    if result.new_since_last_run:
        lines.append("")
        lines.append("New since last run: " + ", ".join(f"`{n}`" for n in result.new_since_last_run))
    lines += ["", "| status | check | violations | new | time | message |", "|---|---|---:|---:|---:|---|"]
    for c in result.checks:
        lines.append(f"| {_MARKDOWN_STATUS[c.status]} | `{_md(c.name)}` | {c.violations} | {_new(c)} | "
                     f"{_ms(c.duration_ms)} | {_md(c.message)} |")
    for c in result.checks:
        if c.status == "pass" or not (c.samples or c.sql):
            continue
        lines += ["", f"{heading}# `{_md(c.name)}`: {_md(c.message)}"]
        if c.samples:
            columns = list(dict.fromkeys(k for row in c.samples for k in row))
            lines += ["", "| " + " | ".join(_md(k) for k in columns) + " |",
                      "|" + "---|" * len(columns)]
            for row in c.samples:
                lines.append("| " + " | ".join(_md(_cell(row.get(k), 60)) for k in columns) + " |")
        if c.sql:
            lines += ["", "```sql", redactor.text(_terminated(c.sql)), "```"]
        if c.hint:
            lines += ["", f"Hint: {_md(c.hint)}"]
    return "\n".join(lines) + "\n"
