"""Human output with Rich: tables and the evidence of a failure, written to stderr or a TTY."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..results import CheckResult

STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "error": "magenta", "blocked": "dim"}
MARK = {"pass": "✓ pass", "warn": "! warn", "fail": "✗ fail", "error": "⚠ error", "blocked": "∅ blocked"}


def status_text(status: str) -> str:
    return f"[{STYLE.get(status, 'white')}]{MARK.get(status, status)}[/]"


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _short(v: Any, n: int = 60) -> str:
    s = repr(v) if isinstance(v, str) else ("null" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
    return s if len(s) <= n else s[: n - 3] + "..."


def columns_table(*columns: str) -> Table:
    """An empty table with a bold header of ``columns``: the shape every listing command prints."""
    t = Table(header_style="bold")
    for col in columns:
        t.add_column(col)
    return t


def results_table(results: list[CheckResult], title: str | None = None) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold", expand=False)
    t.add_column("status", no_wrap=True)
    t.add_column("check", no_wrap=True)
    t.add_column("kind", style="dim", no_wrap=True)
    t.add_column("time", justify="right", no_wrap=True)
    t.add_column("summary", overflow="fold")
    for r in results:
        t.add_row(status_text(r.status), escape(r.name), r.kind, _ms(r.duration_ms), escape(r.summary))
    return t


def render_results(console: Console, results: list[CheckResult], title: str | None = None) -> None:
    console.print(results_table(results, title))
    for r in results:
        if r.status in ("fail", "warn"):
            console.print(f"\n[bold]{escape(r.name)}[/] {status_text(r.status)}")
            for a in r.assertions:
                mark = "[green]✓[/]" if a.ok else ("[yellow]![/]" if a.severity == "warn" else "[red]✗[/]")
                line = f"  {mark} {escape(a.expr)}"
                if not a.ok:
                    line += f"  [dim]actual:[/] {escape(_short(a.actual))}  [dim]expected:[/] {escape(a.expected)}"
                    if a.message and "missing" in a.message:
                        line += f"  [dim]({escape(a.message)})[/]"
                console.print(line)
            excerpt = r.observations.get("body")
            if r.status == "fail" and isinstance(excerpt, str) and excerpt:
                console.print(f"  [dim]response:[/] {escape(_short(excerpt, 200))}")
        elif r.status == "error":
            console.print(f"\n[bold]{escape(r.name)}[/] {status_text('error')} {escape(r.summary)}")
            if r.hint:
                console.print(f"  [dim]hint:[/] {escape(r.hint)}")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    parts = [f"[{STYLE[s]}]{counts[s]} {s}[/]" for s in STYLE if counts.get(s)]
    console.print("\n" + ", ".join(parts) if parts else "no checks ran")
