"""A runbook run's record as JSON (``opsbook.runbook_run/1``) and as Markdown to attach to a
ticket, and the terminal's progress lines while it runs. Everything here reads rows fetched at
once (store/runbook_runs.py): rendering a 100-step record makes no query per step. Secret values
never reach these rows (the runner records *** in their place); the redactor runs again anyway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.secrets import redactor
from ..durations import format_duration
from ..store.runbook_runs import ApprovalRow, RunRow, StepRow

SCHEMA = "opsbook.runbook_run/1"
MARK = {"ok": "ok", "failed": "FAILED", "error": "ERROR", "timeout": "TIMEOUT", "skipped": "skipped",
        "dry_run": "not run (dry-run)", "acked": "acknowledged", "approved": "approved", "rejected": "REJECTED",
        "running": "running"}


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _took(a: datetime | None, b: datetime | None) -> str:
    if a is None or b is None:
        return "-"
    secs = (b - a).total_seconds()
    return f"{secs * 1000:.0f}ms" if secs < 1 else format_duration(float(round(secs)))


def step_dict(s: StepRow) -> dict[str, Any]:
    return {"id": s.id, "section": s.section, "index": s.index, "name": s.name, "kind": s.kind, "display": s.display,
            "target": s.target, "attempt": s.attempt, "status": s.status, "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at), "exit_code": s.exit_code, "output": s.output,
            "output_bytes": s.output_bytes, "observations": s.observations, "captured": s.captured or {},
            "assertions": s.assertions or [], "error": s.error, "actor": s.actor, "decided_at": _iso(s.decided_at)}


def run_dict(r: RunRow) -> dict[str, Any]:
    return {"id": r.id, "runbook": r.runbook, "content_hash": r.content_hash, "params": r.params,
            "operator": r.operator, "environment": r.environment, "incident_id": r.incident_id, "status": r.status,
            "dry_run": r.dry_run, "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at),
            "current_step": r.current_step, "waiting": r.waiting, "error": r.error,
            "heartbeat_at": _iso(r.heartbeat_at), "version": r.version}


def to_json(run: RunRow, steps: list[StepRow], approvals: list[ApprovalRow]) -> dict[str, Any]:
    doc = {"schema": SCHEMA, **run_dict(run),
           "steps": [step_dict(s) for s in steps],
           "approvals": [{"id": a.id, "section": a.section, "index": a.index, "step": a.step,
                          "requested_by": a.requested_by, "requested_at": _iso(a.requested_at),
                          "expires_at": _iso(a.expires_at), "decision": a.decision, "decided_by": a.decided_by,
                          "decided_at": _iso(a.decided_at), "reason": a.reason} for a in approvals]}
    out: dict[str, Any] = redactor.redact(doc)
    return out


def _fence(text: str, lang: str = "") -> str:
    """A fence longer than any backtick run inside the text, so the text cannot close it."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _step_md(s: StepRow) -> list[str]:
    head = f"### {s.name}" + (f" (attempt {s.attempt})" if s.attempt > 1 else "")
    lines = [head, "", f"- **Kind:** {s.kind}" + (f" on {s.target}" if s.target else ""),
             f"- **Result:** {MARK.get(s.status, s.status)}" + (f" (exit code {s.exit_code})" if s.exit_code is not None
                                                               else ""),
             f"- **Started:** {_iso(s.started_at)}, took {_took(s.started_at, s.ended_at)}"]
    if s.actor:
        verb = {"acked": "Acknowledged", "approved": "Approved", "rejected": "Rejected"}.get(s.status, "By")
        lines.append(f"- **{verb} by:** {s.actor} at {_iso(s.decided_at or s.ended_at)}")
    if s.error:
        lines.append(f"- **Note:** {s.error}")
    for a in s.assertions or []:
        lines.append(f"- **Expect** `{a.get('expr')}`: {'ok' if a.get('ok') else 'FAILED'}"
                     + (f" ({a['message']})" if a.get("message") else ""))
    for k, v in (s.captured or {}).items():
        lines.append(f"- **Saved** `{k}` = `{v}`")
    lines += ["", _fence(s.display, "text" if s.kind == "checklist" else s.kind)]
    if s.output:
        more = f" ({s.output_bytes} bytes, first and last kept)" if s.output_bytes > len(s.output) else ""
        lines += ["", f"Output{more}:", "", _fence(s.output, "text")]
    return [*lines, ""]


def to_markdown(run: RunRow, steps: list[StepRow], approvals: list[ApprovalRow]) -> str:
    params = ", ".join(f"`{k}={v}`" for k, v in run.params.items()) or "none"
    lines = [f"# Runbook run {run.id}: {run.runbook}" + (" (dry-run)" if run.dry_run else ""), "",
             f"- **Status:** {run.status}" + (f": {run.error}" if run.error else ""),
             f"- **Runbook:** {run.runbook} (sha256 {run.content_hash})",
             f"- **Operator:** {run.operator}", f"- **Environment:** {run.environment or '-'}",
             f"- **Parameters:** {params}",
             f"- **Started:** {_iso(run.started_at)}; ended {_iso(run.ended_at) or '-'}; "
             f"took {_took(run.started_at, run.ended_at)}"]
    if run.incident_id is not None:
        lines.append(f"- **Incident:** {run.incident_id}")
    if run.waiting:
        lines.append(f"- **Waiting for:** {run.waiting.get('kind')} {run.waiting.get('name')}")
    main = [s for s in steps if s.section == "main"]
    back = [s for s in steps if s.section == "rollback"]
    lines += ["", "## Steps", ""]
    for s in main:
        lines += _step_md(s)
    if approvals:
        lines += ["## Approvals", "", "| step | requested | by | expires | decision | by | at |",
                  "|---|---|---|---|---|---|---|"]
        for a in approvals:
            lines.append(f"| {a.step} | {_iso(a.requested_at)} | {a.requested_by} | {_iso(a.expires_at)} | "
                         f"{a.decision or 'pending'} | {a.decided_by or '-'} | {_iso(a.decided_at) or '-'} |")
        lines.append("")
    if back:
        lines += ["## Rollback", ""]
        for s in back:
            lines += _step_md(s)
    return redactor.text("\n".join(lines).rstrip() + "\n")


def progress(s: StepRow) -> str:
    """One terminal line per step start and end."""
    where = "rollback " if s.section == "rollback" else ""
    if s.status == "running":
        first = s.display.splitlines()[0] if s.display else ""
        return redactor.text(f"-> {where}{s.name} [{s.kind}{' on ' + s.target if s.target else ''}]: {first}")
    extra = f" exit {s.exit_code}" if s.exit_code is not None else ""
    note = f": {s.error}" if s.error else ""
    failed = [a for a in s.assertions or [] if not a.get("ok")]
    if failed:
        note += "; " + "; ".join(str(a.get("message") or a.get("expr")) for a in failed)
    return redactor.text(f"   {where}{s.name} {MARK.get(s.status, s.status)}{extra} "
                         f"({_took(s.started_at, s.ended_at)}){note}")


def summary(run: RunRow) -> str:
    """The last line of `runbook run`: how it ended, and what to do when it waits."""
    if run.status == "waiting" and run.waiting:
        w = run.waiting
        nxt = {"checklist": f"opsbook runbook ack {run.id} && opsbook runbook resume {run.id}",
               "approval": f"(another operator) opsbook runbook approve {run.id}, then opsbook runbook resume {run.id}",
               "confirm": f"opsbook runbook resume {run.id} --yes",
               "resume": f"opsbook runbook resume {run.id}"}.get(str(w.get("kind")), f"opsbook runbook resume {run.id}")
        what = f"{w.get('kind')} {w.get('name')}" + (f": {w['text']}" if w.get("text") else "")
        return redactor.text(f"run {run.id} waits for {what}\n  continue: {nxt}")
    tail = f": {run.error}" if run.error else ""
    return redactor.text(f"run {run.id} {run.status}{' (dry-run)' if run.dry_run else ''} in "
                         f"{_took(run.started_at, run.ended_at)}{tail}")
