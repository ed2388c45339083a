"""Backups and drills for people: Rich tables, and the Markdown drill report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config.secrets import redactor
from ..fsmode import private_dir, write_private


def human_size(n: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


def _secs(ms: float) -> str:
    return f"{ms / 1000:.2f}s"


def render_backup(console: Console, doc: dict[str, Any]) -> None:
    rows = sum(t["rows"] for t in doc["tables"].values() if t.get("data", True))
    console.print(f"[green]✓[/] backup {escape(doc['name'])} [bold]{escape(doc['id'])}[/] "
                  f"{human_size(doc['size'])}{' (age-encrypted)' if doc['encrypted'] else ''} "
                  f"in {_secs(doc['timings_ms'].get('total', 0))}")
    console.print(f"  location: {escape(doc['location'])}")
    for o in doc["objects"]:
        console.print(f"  {escape(o['name'])}  sha256 {o['sha256']}", markup=False)
    console.print(f"  snapshot: {len(doc['tables'])} tables, {rows} rows")


def render_catalog(console: Console, doc: dict[str, Any]) -> None:
    t = Table(title=f"backups of {doc['name']} at {doc['location']}", header_style="bold")
    for col in ("id", "created (UTC)", "size", "tables", "rows", "encrypted"):
        t.add_column(col, justify="right" if col in ("size", "tables", "rows") else "left", no_wrap=True)
    for b in doc["backups"]:
        t.add_row(b["id"], b["created_at"][:19].replace("T", " "), human_size(b["size"]), str(b["tables"]),
                  str(b["rows"]), "age" if b["encrypted"] else "no")
    console.print(t)
    invalid = {i["id"]: i["error"] for i in doc.get("invalid", [])}
    for bid, why in invalid.items():
        console.print(f"[red]✗ {escape(bid)}: unusable, its manifest is rejected: {escape(why)}[/]")
    incomplete = [i for i in doc["ignored"] if i not in invalid]
    if incomplete:
        console.print(f"[dim]{len(incomplete)} incomplete id(s) ignored (no manifest): "
                      f"{escape(', '.join(incomplete))}[/]")
    if not doc["backups"]:
        console.print("no backups yet")


def render_verify(console: Console, doc: dict[str, Any]) -> None:
    mark = "[green]✓ verified[/]" if doc["ok"] else "[red]✗ FAILED[/]"
    console.print(f"{mark} backup {escape(doc['name'])} {escape(doc['id'])}")
    for o in doc["objects"]:
        steps = ", ".join(f"{k} {'ok' if o[k] else 'FAILED'}" for k in ("checksum", "decrypt", "archive"))
        console.print(f"  {escape(o['name'])}: {steps}; {o['entries']} archive entries", markup=False)
        if o["error"]:
            console.print(f"    [red]{escape(redactor.text(o['error']))}[/]")


def render_prune(console: Console, doc: dict[str, Any]) -> None:
    verb = "would delete" if doc["dry_run"] else "deleted"
    t = Table(title=f"retention of {doc['name']} ({'dry run' if doc['dry_run'] else 'applied'})", header_style="bold")
    t.add_column("id", no_wrap=True)
    t.add_column("created (UTC)", no_wrap=True)
    t.add_column("action", no_wrap=True)
    t.add_column("why")
    for dcs in doc["decisions"]:
        action = "[green]keep[/]" if dcs["keep"] else f"[red]{verb.split()[-1]}[/]"
        t.add_row(dcs["id"], dcs["created_at"][:19].replace("T", " "), action, escape("; ".join(dcs["reasons"])))
    console.print(t)
    console.print(f"{len(doc['kept'])} kept, {len(doc['deleted'])} {verb}")
    if doc.get("partials"):
        console.print(f"partial directories of killed runs {'to remove' if doc['dry_run'] else 'removed'}: "
                      f"{escape(', '.join(doc['partials']))}")


def render_drill(console: Console, doc: dict[str, Any]) -> None:
    mark = "[green]✓ drill passed[/]" if doc["ok"] else "[red]✗ drill FAILED[/]"
    console.print(f"{mark} {escape(doc['drill'])}: backup {escape(doc['backup_id'] or '-')} "
                  f"restored in {doc['rto_s']:.1f}s"
                  + (f" (RTO target {doc['rto_target_s']:g}s)" if doc["rto_target_s"] is not None else ""))
    console.print("  phases: " + ", ".join(f"{k} {_secs(v)}" for k, v in doc["phases_ms"].items()))
    for c in doc["checks"]:
        console.print(f"  {'[green]✓[/]' if c['ok'] else '[red]✗[/]'} {escape(c['name'])}: "
                      f"{escape(redactor.text(c['summary']))}")
    if doc["error"]:
        console.print(f"  [red]error:[/] {escape(redactor.text(doc['error']['message']))}")
    if doc["kept"]:
        console.print(f"  scratch database kept for inspection: {escape(doc['scratch'])}")


def drill_markdown(doc: dict[str, Any]) -> str:
    """The drill log, as the seed runbooks file it: backup, durations, row counts, issues."""
    day = doc["started_at"][:10]
    target = "-" if doc["rto_target_s"] is None else f"{doc['rto_target_s']:g} s"
    lines = [
        f"# Restore drill {doc['drill']}: {day}",
        "",
        f"**Result: {'PASSED' if doc['ok'] else 'FAILED'}**",
        "",
        "| | |", "|---|---|",
        f"| backup | `{doc['backup']}` id `{doc['backup_id']}` |",
        f"| backup taken at | {doc['backup_created_at']} |",
        f"| drill started | {doc['started_at']} |",
        f"| restored into | {doc['scratch'] or '-'}{' (kept)' if doc['kept'] else ' (dropped)'} |",
        f"| measured RTO | {doc['rto_s']:.1f} s |",
        f"| RTO target | {target} |",
        "",
        "## Durations", "", "| phase | seconds |", "|---|---:|",
        *[f"| {k} | {v / 1000:.2f} |" for k, v in doc["phases_ms"].items()],
        "", "## Row counts", "", "| table | in backup snapshot | restored | |", "|---|---:|---:|---|",
        *[f"| {t['table']} | {t['expected']} | {'-' if t['actual'] is None else t['actual']} | "
          f"{'ok' if t['ok'] else 'MISMATCH'} |" for t in doc["tables"]],
        "", "## Checks", "",
        *[f"- {'✓' if c['ok'] else '✗'} **{c['name']}**: {c['summary']}" for c in doc["checks"]],
        "", "## Issues", "",
        *([f"- {i}" for i in doc["issues"]] or ["None."]),
        "",
    ]
    return redactor.text("\n".join(lines))


def write_drill_report(directory: Path, name: str, doc: dict[str, Any]) -> dict[str, str]:
    """The drill log as the seed keeps it (restore-YYYY-MM-DD-NAME.md) plus the same run as JSON.

    A second drill on the same day gets the time appended instead of overwriting the first."""
    from . import jsondoc

    private_dir(directory)
    stem = f"restore-{doc['started_at'][:10]}-{name}"
    if (directory / f"{stem}.md").exists():
        stem += f"-{doc['started_at'][11:19].replace(':', '')}"
    md, js = directory / f"{stem}.md", directory / f"{stem}.json"
    paths = {"markdown": str(md), "json": str(js)}
    write_private(md, drill_markdown(doc))
    write_private(js, jsondoc.dumps({**doc, "report": paths}) + "\n")
    return paths
