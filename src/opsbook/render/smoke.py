"""Human output for a smoke suite run: one line per step, then the evidence of what failed."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from ..smoke import SmokeResult
from .table import status_text

_SKIPPED = "[dim]- skipped[/]"


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def render_smoke(console: Console, result: SmokeResult) -> None:
    console.print(f"[bold]smoke {escape(result.suite)}[/] against {escape(result.base_url)}")
    for s in result.steps:
        mark = _SKIPPED if s.status == "skipped" else status_text(s.status)
        where = " [dim](finally)[/]" if s.phase == "finally" else ""
        tries = f" [dim]{s.attempts} attempts[/]" if s.attempts > 1 else ""
        timing = f" [dim]{_ms(s.duration_ms)}[/]" if s.status != "skipped" else ""
        console.print(f"  {mark} {escape(s.name)}{where} [dim]{s.method} {escape(s.url)}[/]"
                      f"{timing}{tries}")
        for a in s.assertions:
            if not a.ok:
                console.print(f"      [red]✗[/] {escape(a.expr)}  [dim]actual:[/] "
                              f"{escape(repr(a.actual))}  [dim]expected:[/] {escape(a.expected)}")
        if s.error:
            console.print(f"      {escape(str(s.error.get('message', '')))}")
            if s.error.get("hint"):
                console.print(f"      [dim]hint:[/] {escape(str(s.error['hint']))}")
    passed = sum(s.status == "pass" for s in result.steps)
    verdict = status_text(result.status)
    console.print(f"\n{verdict} {passed}/{len(result.steps)} steps passed in "
                  f"{_ms(result.duration_ms)}")
