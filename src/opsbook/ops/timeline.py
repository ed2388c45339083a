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

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
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


_new = tuple.__new__  # an Entry from all six fields: half the time of calling the class with its defaults


def _runbook_event(at: datetime, actor: str, d: dict[str, Any]) -> Entry:
    """A runbook run put on the incident (``runbook run --incident ID``): which runbook, which run,
    what happened to it, and the command that shows its record. ``ref`` names the run's row."""
    run = d.get("run")
    status = str(d.get("status") or "?")
    dry = bool(d.get("dry_run"))
    record = f"opsbook runbook record {run}"
    summary = (f"{actor}: runbook {d.get('runbook')} run {run}{' (dry-run)' if dry else ''} {status}; "
               f"record: `{record}`")
    detail = {"runbook": d.get("runbook"), "run": run, "status": status, "dry_run": dry, "record": record}
    return Entry(at, f"runbook.{status}", summary, f"runbook_runs:{run}", detail)


def _but(d: dict[str, Any], key: str, fmt: str) -> str:
    """``fmt`` filled with ``d[key]`` when it is set, else nothing: the optional tail of a line."""
    return fmt.format(d[key]) if d.get(key) else ""


def _escalated(d: dict[str, Any]) -> str:
    who = ", ".join(f"{p} ({why})" for p, why in (d.get("people") or {}).items())
    to = ", ".join(d.get("receivers") or []) or "nobody"
    return (f"{d.get('policy')} level {d.get('level')} (round {d.get('round')}): {who + ' via ' if who else ''}{to}"
            + (f"; not reached: {'; '.join(d['unreached'])}" if d.get("unreached") else ""))


def _moved(d: dict[str, Any]) -> str:
    return f"{d.get('from')} -> {d.get('to')}" + _but(d, "reason", ": {}")


# kind -> its line, from the event's detail
_EVENT_LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "note": lambda d: str(d.get("text", "")),
    "ack": _moved,
    "status": _moved,
    "assign": lambda d: f"{d.get('role')}: {d.get('person')}" + _but(d, "previous", " (was {})"),
    "update": lambda d: f"public, {d.get('status')}: {d.get('message')}",
    "declared": lambda d: f"{d.get('severity')} {d.get('title')}",
    "edit": lambda d: f"{d.get('field')}: {d.get('from')!r} -> {d.get('to')!r}",
    "merged": lambda d: f"merged into {d.get('into')}" + _but(d, "reason", ": {}"),
    "merge": lambda d: f"incident {d.get('merged')} merged into this one",
    "postmortem": lambda d: f"post-mortem written to {d.get('file')}",
    "postmortem_waived": lambda d: f"closed without a post-mortem: {d.get('reason')}",
    "escalated": _escalated,
    "action": lambda d: f"action {d.get('action')} {'done' if d.get('done') else 'added'}: {d.get('text')}",
}


def describe_event(kind: str, d: dict[str, Any]) -> str:
    """One line for an incident event from its detail: the timeline's entries and `opsbook incident
    show`'s event table both say it this way (an unknown kind lists its detail)."""
    line = _EVENT_LINES.get(kind)
    return line(d) if line else ", ".join(f"{k}={v}" for k, v in d.items())


def _incident_event(at: datetime, id: int, kind: str, actor: str, d: dict[str, Any]) -> Entry:
    if kind == "runbook" and isinstance(d.get("run"), int):
        return _runbook_event(at, actor, d)
    return Entry(at, f"incident.{kind}", f"{actor}: {describe_event(kind, d)}", f"incident_events:{id}")


def _events(lines: list[incident_rows.EventLine]) -> list[Entry]:
    # a note (most events) straight from its text; any other event from its detail
    return [_new(Entry, (at, "incident.note", f"{actor}: {note}", f"incident_events:{i}", None, None))
            if note is not None else _incident_event(at, i, kind, actor, d or {})
            for at, i, kind, actor, note, d in lines]


def _env(env: str) -> str:
    return f" [{env}]" if env else ""


def _flips(lines: list[checks.FlipLine]) -> list[Entry]:
    """Oldest first. A check fails the same way again and again: each distinct failure document
    is decoded and described once."""
    why: dict[str, str] = {}

    def tail(doc: str | None, summary: str) -> str:
        if doc is not None:
            failed = why.get(doc)
            if failed is None:
                failed = why[doc] = "; ".join(failing_assertions(checks.failure(doc)))
            if failed:
                return f": {failed}"
        return f": {summary}" if summary else ""

    return [_new(Entry, (at, f"check.{to}", f"{check}{f' [{env}]' if env else ''} {frm or 'new'} -> {to}"
                         f"{tail(doc, summary)}", f"check_flips:{i}", None, None))
            for at, i, check, env, frm, to, summary, _, doc in reversed(lines)]


def _alerts(lines: list[alerts.TransitionLine]) -> list[Entry]:
    """Oldest first."""
    return [_new(Entry, (at, f"alert.{to}", f"{rule}{f' [{env}]' if env else ''} {frm} -> {to}"
                         f"{'' if value is None else f' (value {value:g})'}{f': {why}' if why else ''}",
                         f"alert_transitions:{i}", None, None))
            for at, i, rule, env, frm, to, value, why in reversed(lines)]


def _notifications(lines: list[outbox.Touch], start: datetime, end: datetime) -> list[Entry]:
    """Oldest first: each notification's queued, delivered and failed moments in the window."""
    out: list[Entry] = []
    add = out.append
    for i, kind, receiver, group_key, title, status, attempts, created, delivered, failed, msg in reversed(lines):
        title = title or group_key
        ref = f"notify_outbox:{i}"
        if start <= created <= end:
            add(_new(Entry, (created, "notification.queued", f"{kind} to {receiver}: {title}", ref, None, None)))
        if delivered and start <= delivered <= end:
            add(_new(Entry, (delivered, "notification.delivered", f"to {receiver}: {title}", ref, None, None)))
        if failed and start <= failed <= end:
            what = "notification.dead" if status == outbox.DEAD else "notification.failed"
            # once delivered, the last failure was the attempt before the one that got through
            n = attempts - 1 if delivered and delivered >= failed else attempts
            add(_new(Entry, (failed, what, f"to {receiver} (attempt {n}): {msg}", ref, None, None)))
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
    own = incident_rows.event_lines(tx, row.id, more)
    flips = checks.flip_lines_between(tx, start, end, more)
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
    entries = _events(own[-limit:])
    entries += _flips(flips[:limit])
    entries += _alerts(trans[:limit])
    entries += _notifications(notes[:limit], start, end)
    entries += [_run(r) for r in reversed(job_runs[:limit])]
    entries += [e for s in reversed(sil[:limit]) for e in _silences(s, start, end)]
    entries += [_deployed(r) for r in reversed(deploys[:limit])]
    entries += [_rollback(e) for e in reversed(rollbacks[:limit])]
    entries += [_snapshot(s) for s in reversed(snaps[:limit])]
    entries.sort(key=itemgetter(0))  # by time
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


@contextmanager
def _no_full_collections() -> Iterator[None]:
    """The cyclic garbage collector off while thousands of tuples are made: they trip its
    allocation counters, and the full collections that follow walk the whole heap (up to 37 ms
    of a 40 ms timeline in a process that holds the web app; p95 75 ms -> 41 ms CPU). Tuples
    hold no cycles, and nothing here makes any; the collector is left as it was found."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def for_incident(store: Store, row: incident_rows.IncidentRow, now: datetime, limit: int = MAX_ROWS) -> Timeline:
    with _no_full_collections(), store.read() as tx:
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
