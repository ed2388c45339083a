"""An incident's timeline: what the store knows about its window, in time order.

The window runs from 15 minutes before detection (what led up to it) to resolution (or closing,
or now while it is open). Into it go the incident's own events, alert transitions, check flips
with the assertions that failed, notifications queued/delivered/failed, job runs (backups,
drills, integrity...), silences, releases (deploys and rollbacks, with the service, version,
environment, who, and a rollback's outcome in ``release``) and database snapshots (``opsbook db
report --record``, or serve's schedule). Evidence is linked, not copied: each entry has a one-line
summary and a ``ref`` naming the row (``alert_transitions:12``, ``check_flips:7``, ``db_snapshots:3``).

Each source is read newest first and bounded; when any source had more rows than the bound, or
the merged timeline does, the newest entries are kept and ``truncated`` is set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..errors import UsageError
from ..store import Store, alerts, checks, db_snapshots, outbox, releases, runs, silences
from ..store import incidents as incident_rows
from . import incident as incident_ops

LEAD_IN = timedelta(minutes=15)
MAX_ROWS = 10_000


class Entry(NamedTuple):
    """One line of a timeline (a tuple: a timeline makes ten thousand of them, and a frozen
    dataclass took three times as long to build)."""

    at: datetime
    kind: str  # incident.<event>, alert.<to state>, check.<to status>, notification.<what>, run.<kind>,
    # silence.<what>, runbook.<status>, release.deployed, release.rollback, db.snapshot
    summary: str
    ref: str
    detail: dict[str, Any] | None = None  # typed fields of entries that have them (runbook: runbook, run, ...)
    release: dict[str, Any] | None = None  # release entries: service, version, env, by (and outcome, from)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"at": self.at.isoformat(), "kind": self.kind, "summary": self.summary, "ref": self.ref}
        if self.detail is not None:
            d["detail"] = self.detail
        if self.release is not None:
            d["release"] = self.release
        return d


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


def _runbook_event(e: incident_rows.EventRow) -> Entry:
    """A runbook run put on the incident (``runbook run --incident ID``): which runbook, which run,
    what happened to it, and the command that shows its record. ``ref`` names the run's row."""
    d = e.detail
    run = d.get("run")
    status = str(d.get("status") or "?")
    dry = bool(d.get("dry_run"))
    record = f"opsbook runbook record {run}"
    summary = (f"{e.actor}: runbook {d.get('runbook')} run {run}{' (dry-run)' if dry else ''} {status}; "
               f"record: `{record}`")
    detail = {"runbook": d.get("runbook"), "run": run, "status": status, "dry_run": dry, "record": record}
    return Entry(e.at, f"runbook.{status}", summary, f"runbook_runs:{run}", detail)


def _incident_event(e: incident_rows.EventRow) -> Entry:
    d = e.detail
    if e.kind == "runbook" and isinstance(d.get("run"), int):
        return _runbook_event(e)
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


def _deployed(r: releases.ReleaseRow) -> Entry:
    info = {"service": r.service, "version": r.version, "env": r.env, "by": r.by}
    return Entry(r.recorded_at, "release.deployed", f"{r.service} {r.version} deployed to {r.env} by {r.by}",
                 f"releases:{r.id}", release=info)


def _rollback(e: releases.EventRow) -> Entry:
    d = e.detail
    info = {"service": e.service, "version": d.get("to"), "from": d.get("from"), "env": e.env, "by": e.actor,
            "outcome": d.get("outcome")}
    return Entry(e.at, "release.rollback", f"{e.actor} rolled {e.service} back in {e.env}: {d.get('from')} -> "
                 f"{d.get('to')}: {d.get('outcome')}", f"release_events:{e.id}", release=info)


def _snapshot(s: db_snapshots.Snapshot) -> Entry:
    return Entry(s.taken_at, "db.snapshot", f"{s.resource}{_env(s.env)} by {s.taken_by}: {s.summary}",
                 f"db_snapshots:{s.id}")


def assemble(tx: Any, row: incident_rows.IncidentRow, now: datetime, limit: int = MAX_ROWS) -> Timeline:
    """The timeline of one incident, read in ``tx``."""
    start, end = window(row, now)
    more = limit + 1  # one over the bound says there was more
    own = incident_rows.events(tx, row.id, more)
    flips = checks.flips_between(tx, start, end, more)
    trans = alerts.transitions_between(tx, start, end, more)
    notes = outbox.touched_between(tx, start, end, more)
    job_runs = runs.started_between(tx, start, end, more)
    sil = silences.changed_between(tx, start, end, more)
    deploys = releases.listing(tx, since=start, until=end, limit=more)
    rollbacks = releases.events(tx, kinds=("rollback_finished",), since=start, until=end, limit=more)
    snaps = db_snapshots.taken_between(tx, start, end, more)
    truncated = any(len(x) > limit for x in (own, flips, trans, notes, job_runs, sil, deploys, rollbacks,
                                              snaps))
    # sources come newest first (the incident's events oldest first); oldest first, the stable
    # sort keeps their order among equal times
    entries = [_incident_event(e) for e in own[-limit:]]
    entries += [_flip(f) for f in reversed(flips[:limit])]
    entries += [_alert(t) for t in reversed(trans[:limit])]
    entries += [e for r in reversed(notes[:limit]) for e in _notifications(r, start, end)]
    entries += [_run(r) for r in reversed(job_runs[:limit])]
    entries += [e for s in reversed(sil[:limit]) for e in _silences(s, start, end)]
    entries += [_deployed(r) for r in reversed(deploys[:limit])]
    entries += [_rollback(e) for e in reversed(rollbacks[:limit])]
    entries += [_snapshot(s) for s in reversed(snaps[:limit])]
    entries.sort(key=lambda e: e.at)
    if len(entries) > limit:
        entries, truncated = entries[-limit:], True
    return Timeline(start, end, entries, truncated)


def count(tx: Any, row: incident_rows.IncidentRow, now: datetime) -> int:
    """How many entries the whole timeline has (counted in SQL, nothing read): what a page that
    shows the newest few says is left."""
    start, end = window(row, now)
    return (incident_rows.count_events(tx, row.id) + checks.count_flips_between(tx, start, end)
            + alerts.count_transitions_between(tx, start, end) + outbox.count_touches_between(tx, start, end)
            + runs.count_started_between(tx, start, end) + silences.count_changes_between(tx, start, end)
            + releases.count_between(tx, start, end))


def for_incident(store: Store, row: incident_rows.IncidentRow, now: datetime, limit: int = MAX_ROWS) -> Timeline:
    with store.read() as tx:
        return assemble(tx, row, now, limit)


@dataclass(frozen=True)
class Page:
    """What the dashboard's incident page shows: the incident with its newest events, how many
    events it has, the newest entries of its timeline and how many entries the whole one has."""

    incident: incident_ops.Incident
    events_total: int
    timeline: Timeline
    entries_total: int


def page(store: Store, incident_id: int, now: datetime, limit: int, events: int) -> Page:
    """One read for the page: the row, its newest ``events`` events and the newest ``limit``
    timeline entries (each source bounded in SQL), not the thousands a long incident has."""
    with store.read() as tx:
        row = incident_rows.get(tx, incident_id)
        if row is None:
            raise UsageError(f"no incident {incident_id}", hint="`opsbook incident list --all` lists them")
        own = [incident_ops.Event(e.at, e.kind, e.actor, e.detail)
               for e in incident_rows.events(tx, incident_id, events)]
        return Page(incident_ops.Incident(row, own), incident_rows.count_events(tx, incident_id),
                    assemble(tx, row, now, limit), count(tx, row, now))
