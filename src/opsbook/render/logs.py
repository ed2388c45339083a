"""A log query's result (logs/run.py's document) as tables for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from .table import columns_table


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def render_query(console: Console, doc: dict[str, Any]) -> None:
    cb = doc.get("count_by")
    if cb:
        t = columns_table(cb["field"], "count", "share")
        matched = doc["matched"] or 1
        for row in cb["top"]:
            t.add_row(escape(str(row["value"])), f"{row['count']:,}", f"{100 * row['count'] / matched:.1f} %")
        if cb["other"]:
            t.add_row(f"[dim]({cb['distinct'] - len(cb['top'])} other values)[/]", f"{cb['other']:,}",
                      f"{100 * cb['other'] / matched:.1f} %")
        console.print(t)
    pc = doc.get("percentiles")
    if pc:
        t = columns_table(pc["by"] or "all", "count", "p50", "p95", "p99", "max")
        for g in pc["groups"]:
            t.add_row(escape(g["group"]), f"{g['count']:,}", _n(g["p50"]), _n(g["p95"]), _n(g["p99"]), _n(g["max"]))
        console.print(t)
    for key, title in (("matching_lines", "matching lines"), ("sample", "sample")):
        rows = doc.get(key)
        if rows:
            console.print(f"[bold]{title}[/]")
            for r in rows:
                console.print(f"[dim]{r['at'] or '-'} {escape(r['source'])}[/] {escape(r['line'])}", soft_wrap=True)
    if doc.get("matching_lines_not_shown"):
        console.print(f"[dim](+{doc['matching_lines_not_shown']:,} more matching lines not shown; --limit N)[/]")
    if doc["prefilter"]:
        summary = (f"{doc['matched']:,} matching (prefilter: the {doc['parsed']:,} lines holding "
                   + " and ".join(repr(p) for p in doc["prefilter"]) + " parsed")
    else:
        summary = f"{doc['matched']:,} matching of {doc['in_window']:,} lines in the window ({doc['lines']:,} read"
    summary += f", {doc['bytes'] / 1e6:,.1f} MB, {doc['seconds']:.2f} s)"
    console.print(escape(summary), style="dim")
    if doc["unparsable"]:
        console.print(f"[yellow]{doc['unparsable']:,} unparsable line(s)[/]; the first:")
        for b in doc["unparsable_examples"]:
            console.print(f"  [dim]{escape(b['source'])}: {escape(b['why'])}:[/] {escape(b['line'][:300])}",
                          soft_wrap=True)
    if doc["no_timestamp"]:
        console.print(f"[yellow]{doc['no_timestamp']:,} line(s) without a readable timestamp[/] "
                      "(map it with fields: {ts: NAME})")


def render_sources(console: Console, rows: list[dict[str, Any]]) -> None:
    t = columns_table("source", "format", "reads", "files", "size")
    for r in rows:
        t.add_row(escape(r["name"]), r["format"], escape(r["reads"]),
                  "-" if r["files"] is None else str(r["files"]),
                  "-" if r["bytes"] is None else f"{r['bytes'] / 1e6:,.1f} MB")
    console.print(t)
