"""The migration report as Markdown (the JSON form is ``MigrationReport.to_dict()``)."""

from __future__ import annotations

from typing import Any

from .markdown import cell as _cell


def migration_markdown(d: dict[str, Any]) -> str:
    """Render an ``opsbook.migration/1`` document."""
    out = [f"# Migration report: {d['status']}", ""]
    out += [f"- mode: {d['mode']}", f"- source: `{d['source']['path']}` ({d['source']['size_bytes']} bytes)",
            f"- target: `{d['target']}`", f"- snapshot (rollback fallback): `{d['snapshot'] or 'none'}`",
            f"- started: {d['started_at']}, took {d['duration_s']} s"
            + (f", {d['rows']} rows, {d['rows_per_s']} rows/s" if d.get("rows_per_s") else ""),
            f"- phases (s): {', '.join(f'{k} {v}' for k, v in d['phases'].items()) or '-'}",
            f"- table order: {', '.join(d['order'])}", ""]
    if d.get("error"):
        out += ["## Error", "", _cell(d["error"]["message"]), "", f"hint: {_cell(d['error']['hint'])}", ""]
    audit = d.get("audit")
    if audit:
        out += ["## Audit", ""]
        if audit["problems"]:
            out += ["| table | column | problem | count | examples |", "|---|---|---|---:|---|"]
            for p in audit["problems"]:
                ex = "; ".join(_cell(e) for e in p["examples"])
                out.append(f"| {p['table']} | {p['column'] or ''} | {_cell(p['message'])} | {p['count']} | {ex} |")
        else:
            out.append("No values that would not cast.")
        if audit["findings"]:
            out += ["", "| table | column | stored as | count |", "|---|---|---|---:|"]
            out += [f"| {f['table']} | {f['column']} | {_cell(f['message'])} | {f['count']} |"
                    for f in audit["findings"]]
        out.append("")
    if d["tables"]:
        out += ["## Load", "", "| table | rows | status | seconds | rows/s |", "|---|---:|---|---:|---:|"]
        out += [f"| {t['table']} | {t['rows']} | {t['status']} | {t['seconds']} | {t['rows_per_s'] or ''} |"
                for t in d["tables"]]
        out.append("")
    rec = d.get("reconcile")
    if rec:
        out += ["## Reconcile", "", "| table | source rows | target rows | values compared |",
                "|---|---:|---:|---:|"]
        out += [f"| {t['table']} | {t['source_rows']} | {t['target_rows']} | {t['metrics_compared']} |"
                for t in rec["tables"]]
        out.append("")
        if rec["mismatches"]:
            out += ["**Mismatches**", "", "| table | column | metric | source | target |", "|---|---|---|---|---|"]
            out += [f"| {m['table']} | {m['column'] or ''} | {m['metric']} | {_cell(m['source'])} "
                    f"| {_cell(m['target'])} |"
                    for m in rec["mismatches"]]
            out.append("")
        for s in rec["sequences"]:
            mark = "ok" if s["ok"] else "BEHIND"
            out.append(f"- sequence {s['table']}.{s['column']}: next {s.get('next_value')} "
                       f"> max {s.get('max_id')}: {mark}")
        for f in rec["foreign_keys"]:
            state = "valid" if f["ok"] else f"NOT VALID ({f.get('orphans', '?')} orphan rows)"
            out.append(f"- foreign key {f['table']}({', '.join(f['columns'])}) -> {f['references']}: {state}")
        out.append("")
    plan = d.get("plan") or []
    if plan:
        out += ["## Plan", ""]
        for tp in plan:
            out += [f"### {tp['name']} ({tp['rows']} rows)", "",
                    "| column | SQLite type | PostgreSQL type | note |", "|---|---|---|---|"]
            for c in tp["columns"]:
                note = ", ".join(x for x in ("identity" if c["identity"] else "",
                                             "--casts" if c["cast_by_user"] else "",
                                             "LOSSY" if c["lossy"] else "") if x)
                out.append(f"| {c['name']} | {c['source_type'] or '(none)'} | {c['pg_type']} | {note} |")
            out += ["", "```sql", *(s + ";" for s in tp["ddl"]), "```", ""]
    if d["notes"]:
        out += ["## Notes", "", *(f"- {_cell(n)}" for n in d["notes"]), ""]
    return "\n".join(out)
