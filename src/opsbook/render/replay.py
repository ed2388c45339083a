"""A replay run's report as JSON (``opsbook.replay_run/1``) and as text: counts by status, the
failures with the target's (bounded, redacted) answers, the rate achieved. Rows hold no secret
values; the redactor runs again anyway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.secrets import redactor
from ..store.replay_runs import EventRow, RunRow

SCHEMA = "opsbook.replay_run/1"


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def run_dict(r: RunRow) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "since": _iso(r.since), "until": _iso(r.until), "status": r.status,
            "limit": r.limit, "operator": r.operator, "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at),
            "heartbeat_at": _iso(r.heartbeat_at), "delivered": r.delivered, "failed": r.failed,
            "skipped": r.skipped, "attempts": r.attempts, "active_seconds": round(r.active_seconds, 3),
            "cursor_seq": r.cursor.get("seq") if r.cursor else None, "error": r.error}


def event_dict(e: EventRow) -> dict[str, Any]:
    return {"key": e.key, "seq": e.seq, "status": e.status, "attempts": e.attempts, "http_status": e.http_status,
            "error": e.error, "response": e.response, "at": _iso(e.at)}


def report_doc(run: RunRow | None, counts: dict[str, int], failures: list[EventRow], rate: float | None,
               samples: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": SCHEMA, "dry_run": dry_run, "counts": counts}
    if run is not None:
        doc["run"] = run_dict(run)
        doc["rate"] = round(rate, 1) if rate else None
        doc["failures"] = [event_dict(e) for e in failures]
    if dry_run:
        doc["samples"] = samples
    redacted: dict[str, Any] = redactor.redact(doc)
    return redacted


def summary(run: RunRow | None, counts: dict[str, int], failures: list[EventRow], rate: float | None,
            samples: list[dict[str, Any]], dry_run: bool) -> str:
    if dry_run:
        lines = [f"dry-run: {counts.get('would_send', 0)} event(s) would be sent, "
                 f"{counts.get('malformed', 0)} malformed"]
        for s in samples:
            lines.append(f"  #{s['seq']} key={s['key']} {s['method']} {s['url']}"
                         + (f" order_key={s['order_key']}" if s.get("order_key") else ""))
            lines.append(f"    headers: {', '.join(f'{k}: {v}' for k, v in s['headers'].items()) or '-'}")
            lines.append(f"    {s['error'] or s['body']}")
        return redactor.text("\n".join(lines))
    assert run is not None
    lines = [f"replay run {run.id} ({run.name}): {run.status}"
             + (f" ({run.error})" if run.error else ""),
             f"  delivered {counts.get('delivered', 0)}, failed {counts.get('failed', 0)}, "
             f"skipped {counts.get('skipped', 0)}; {run.attempts} request(s)"
             + (f"; {rate:.0f} events/s" if rate else "")]
    if failures:
        lines.append("  failures:")
        for e in failures:
            answer = f" -> {e.response[:200]!r}" if e.response else ""
            lines.append(f"    #{e.seq} {e.key}: {e.status} after {e.attempts} attempt(s): {e.error or ''}{answer}")
    if run.status in ("interrupted", "stopped", "failed"):
        again = " [--retry-failed to send the failed ones again]" if counts.get("failed") else ""
        lines.append(f"  resume it: opsbook replay resume {run.id}{again}")
    return redactor.text("\n".join(lines))


def listing(runs: list[RunRow]) -> str:
    if not runs:
        return "no replay runs"
    out = [f"{'ID':>5}  {'NAME':<20} {'STATUS':<12} {'DELIVERED':>9} {'FAILED':>7}  STARTED"]
    for r in runs:
        out.append(f"{r.id:>5}  {r.name[:20]:<20} {r.status:<12} {r.delivered:>9} {r.failed:>7}  "
                   f"{r.started_at.isoformat(timespec='seconds')}")
    return redactor.text("\n".join(out))
