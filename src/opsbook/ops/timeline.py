"""An incident's timeline: what the store knows about its window, in time order.

The window runs from 15 minutes before detection (what led up to it) to resolution (or closing,
or now while it is open). Into it go the incident's own events, alert transitions, check flips
with the assertions that failed, notifications queued/delivered/failed, job runs (backups,
drills, integrity...), silences and database snapshots (``opsbook db report --record``, or
serve's schedule). Evidence is linked, not copied: each entry has a one-line summary and a
``ref`` naming the row (``alert_transitions:12``, ``check_flips:7``, ``db_snapshots:3``).

Each source is read newest first and bounded; when any source had more rows than the bound, or
the merged timeline does, the newest entries are kept and ``truncated`` is set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..store import Store, alerts, checks, db_snapshots, outbox, runs, silences
from ..store import incidents as incident_rows

LEAD_IN = timedelta(minutes=15)
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # incident.<event>, alert.<to state>, check.<to status>, notification.<what>, run.<kind>, silence.<what>,
    # db.snapshot
    summary: str
    ref: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "summary": self.summary, "ref": self.ref}


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    entries: list[Entry]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "truncated": self.truncated,
                "entries": [e.to_dict() for e in self.entries]}


def window(row: incident_rows.IncidentRow, now: datetime) -> tuple[datetime, datetime]:
    """From 15 minutes before detection to resolution (closing, when cancelled; now, while open)."""
    return row.detected_at - LEAD_IN, row.resolved_at or row.closed_at or now


def failing_assertions(doc: dict[str, Any] | None) -> list[str]:
    """The assertions a stored result failed, one line each (its error, when it could not run)."""
    if not doc:
        return []
    lines = [f"{a.get('expr')} (actual: {a.get('actual')!r}, expected: {a.get('expected')})"
             for a in doc.get("assertions") or [] if not a.get("ok")]
    err = doc.get("error")
    if not lines and isinstance(err, dict) and err.get("message"):
        lines.append(str(err["message"]))
    return lines


def _incident_event(e: incident_rows.EventRow) -> Entry:
    d = e.detail
    if e.kind == "note":
        what = str(d.get("text", ""))
    elif e.kind in ("ack", "status"):
        what = f"{d.get('from')} -> {d.get('to')}" + (f": {d['reason']}" if d.get("reason") else "")
    elif e.kind == "assign":
        what = f"{d.get('role')}: {d.get('person')}"
    elif e.kind == "declared":
        what = f"{d.get('severity')} {d.get('title')}"
    elif e.kind == "escalated":
        who = ", ".join(f"{p} ({why})" for p, why in (d.get("people") or {}).items())
        to = ", ".join(d.get("receivers") or []) or "nobody"
        what = f"{d.get('policy')} level {d.get('level')} (round {d.get('round')}): {who + ' via ' if who else ''}{to}"
        if d.get("unreached"):
            what += f"; not reached: {'; '.join(d['unreached'])}"
    elif e.kind == "action":
        what = f"action {d.get('action')} {'done' if d.get('done') else 'added'}: {d.get('text')}"
    else:
        what = ", ".join(f"{k}={v}" for k, v in d.items())
    return Entry(e.at, f"incident.{e.kind}", f"{e.actor}: {what}", f"incident_events:{e.id}")


def _env(env: str) -> str:
    return f" [{env}]" if env else ""


def _flip(f: checks.WindowFlip) -> Entry:
    why = failing_assertions(f.result) if f.to_status not in ("pass", "warn") else []
    text = f"{f.check}{_env(f.env)} {f.from_status or 'new'} -> {f.to_status}"
    text += f": {'; '.join(why)}" if why else (f": {f.summary}" if f.summary else "")
    return Entry(f.at, f"check.{f.to_status}", text, f"check_flips:{f.id}")


def _alert(t: alerts.Transition) -> Entry:
    text = f"{t.rule}{_env(t.env)} {t.from_state} -> {t.to_state}"
    if t.value is not None:
        text += f" (value {t.value:g})"
    if t.reason:
        text += f": {t.reason}"
    return Entry(t.at, f"alert.{t.to_state}", text, f"alert_transitions:{t.id}")


def _notifications(r: outbox.OutboxRow, start: datetime, end: datetime) -> list[Entry]:
    title = r.payload.get("title") or r.group_key
    ref = f"notify_outbox:{r.id}"
    out = []
    if start <= r.created_at <= end:
        out.append(Entry(r.created_at, "notification.queued", f"{r.kind} to {r.receiver}: {title}", ref))
    if r.delivered_at and start <= r.delivered_at <= end:
        out.append(Entry(r.delivered_at, "notification.delivered", f"to {r.receiver}: {title}", ref))
    if r.last_error_at and start <= r.last_error_at <= end:
        msg = (r.last_error or {}).get("message", "")
        kind = "notification.dead" if r.status == outbox.DEAD else "notification.failed"
        # once delivered, the last failure was the attempt before the one that got through
        n = r.attempts - 1 if r.delivered_at and r.delivered_at >= r.last_error_at else r.attempts
        out.append(Entry(r.last_error_at, kind, f"to {r.receiver} (attempt {n}): {msg}", ref))
    return out


def _run(r: dict[str, Any]) -> Entry:
    took = f" in {(r['finished_at'] - r['started_at']).total_seconds():g}s" if r["finished_at"] else ""
    return Entry(r["started_at"], f"run.{r['kind']}", f"{r['kind']} {r['name']}{_env(r['env'])}: {r['status']}{took}",
                 f"runs:{r['id']}")


def _silences(s: silences.SilenceRow, start: datetime, end: datetime) -> list[Entry]:
    matchers = ", ".join(f"{m.get('name')}{m.get('op', '=')}{m.get('value')}" for m in s.matchers)
    ref = f"notify_silences:{s.id}"
    out = []
    if start <= s.created_at <= end:
        out.append(Entry(s.created_at, "silence.created",
                         f"{s.author}: {matchers} until {s.ends_at.isoformat()}" + (f" ({s.comment})" if s.comment
                                                                                   else ""), ref))
    if start <= s.ends_at <= end:
        by = f" by {s.expired_by}" if s.expired_by else ""
        out.append(Entry(s.ends_at, "silence.ended", f"{matchers} ended{by}", ref))
    return out


def _snapshot(s: db_snapshots.Snapshot) -> Entry:
    return Entry(s.taken_at, "db.snapshot", f"{s.resource}{_env(s.env)} by {s.taken_by}: {s.summary}",
                 f"db_snapshots:{s.id}")


def assemble(tx: Any, row: incident_rows.IncidentRow, now: datetime, limit: int = MAX_ROWS) -> Timeline:
    """The timeline of one incident, read in ``tx``."""
    start, end = window(row, now)
    more = limit + 1  # one over the bound says there was more
    own = incident_rows.events(tx, row.id)
    flips = checks.flips_between(tx, start, end, more)
    trans = alerts.transitions_between(tx, start, end, more)
    notes = outbox.touched_between(tx, start, end, more)
    job_runs = runs.started_between(tx, start, end, more)
    sil = silences.changed_between(tx, start, end, more)
    snaps = db_snapshots.taken_between(tx, start, end, more)
    truncated = any(len(x) > limit for x in (flips, trans, notes, job_runs, sil, snaps))
    # sources come newest first; oldest first, the stable sort keeps their order among equal times
    entries = [_incident_event(e) for e in own]
    entries += [_flip(f) for f in reversed(flips[:limit])]
    entries += [_alert(t) for t in reversed(trans[:limit])]
    entries += [e for r in reversed(notes[:limit]) for e in _notifications(r, start, end)]
    entries += [_run(r) for r in reversed(job_runs[:limit])]
    entries += [e for s in reversed(sil[:limit]) for e in _silences(s, start, end)]
    entries += [_snapshot(s) for s in reversed(snaps[:limit])]
    entries.sort(key=lambda e: e.at)
    if len(entries) > limit:
        entries, truncated = entries[-limit:], True
    return Timeline(start, end, entries, truncated)


def for_incident(store: Store, row: incident_rows.IncidentRow, now: datetime, limit: int = MAX_ROWS) -> Timeline:
    with store.read() as tx:
        return assemble(tx, row, now, limit)
