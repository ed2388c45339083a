"""``opsbook incident declare|list|show|ack|assign|note|update|edit|merge|mitigate|resolve|close|cancel|escalate``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .common import Ctx, common, me, out, parse_at, parse_seconds
from .common import when as _when

if TYPE_CHECKING:
    from ..config.load import Config
    from ..ops.escalation import State
    from ..ops.incident import Incident
    from ..ops.timeline import Timeline

as_option = click.option("--as", "actor", default=None, metavar="NAME", help="who is acting (default: $USER)")


@click.group("incident")
def incident_group() -> None:
    """Incidents: declare one, acknowledge it, assign roles, note what happens, resolve and close it."""


def _people(cfg: Config) -> list[str] | None:
    """The names in a `people:` section, or None when the config has none (then any name goes)."""
    return list(cfg.model.people) or None


def _dur(seconds: float | None) -> str:
    from ..durations import format_duration

    return format_duration(float(round(seconds))) if seconds is not None else "-"


def _render(ctx: Ctx, inc: Incident, timeline: Timeline | None = None, escalation: State | None = None) -> None:
    from rich.markup import escape

    from ..ops.timeline import describe_event
    from ..render.table import columns_table

    if ctx.json:
        doc = {"schema": "opsbook.incident/1", **inc.to_dict()}
        if timeline is not None:
            doc["timeline"] = [e.to_dict() for e in timeline.entries]
            doc["timeline_truncated"] = timeline.truncated
            doc["escalation"] = escalation.to_dict() if escalation else None
        ctx.emit(doc)
        return
    r = inc.row
    out.print(f"[bold]incident {r.id}[/] {escape(r.title)}")
    d = inc.durations()
    fields = [
        ("severity", r.severity), ("status", r.status), ("components", ", ".join(r.components) or "-"),
        ("commander", r.commander or "-"),
        ("roles", ", ".join(f"{k}: {v}" for k, v in r.roles.items()) or "-"),
        ("detected", _when(r.detected_at)), ("declared", f"{_when(r.declared_at)} by {r.created_by}"),
        ("acknowledged", _when(r.acknowledged_at)), ("mitigated", _when(r.mitigated_at)),
        ("resolved", _when(r.resolved_at)), ("closed", _when(r.closed_at)),
        ("time to ack / mitigate / resolve", " / ".join(_dur(d[k]) for k in d)),
    ]
    if r.summary:
        fields.insert(3, ("summary", r.summary))
    if escalation is not None:
        fields.append(("escalation", escalation.line()))
    for k, v in fields:
        out.print(f"  {k:>34}: {escape(str(v))}")
    if inc.events:
        t = columns_table("at (UTC)", "kind", "actor", "detail")
        for e in inc.events:
            t.add_row(_when(e.at), e.kind, escape(e.actor), escape(describe_event(e.kind, e.detail)))
        out.print(t)
    if timeline is not None:
        _render_timeline(timeline)


def _render_timeline(tl: Timeline) -> None:
    from rich.markup import escape

    from ..render.table import columns_table

    out.print(f"[bold]timeline[/] {_when(tl.start)} .. {_when(tl.end)}"
              + (" [yellow](truncated: the newest entries are shown)[/]" if tl.truncated else ""))
    t = columns_table("at (UTC)", "kind", "summary", "ref")
    for e in tl.entries:
        t.add_row(_when(e.at), e.kind, escape(e.summary), e.ref)
    out.print(t)


@incident_group.command("declare")
@click.argument("title")
@click.option("--severity", "-s", required=True, help="a severity from incidents.severities (e.g. SEV2)")
@click.option("--component", "components", multiple=True, metavar="NAME", help="an affected component (repeatable)")
@click.option("--summary", default="", help="what is known so far")
@click.option("--detected", default=None, metavar="TIME", help="when it started (ISO 8601; default now)")
@as_option
@common
def incident_declare(ctx: Ctx, title: str, severity: str, components: tuple[str, ...], summary: str,
                     detected: str | None, actor: str | None) -> int:
    """Declare an incident: it starts in triage."""
    from ..ops import incident
    from ..results import utcnow

    cfg = ctx.config
    incident.check_severity(cfg.model.incidents, severity)  # before the store is opened
    now = utcnow()
    with ctx.open_store(cfg) as store:
        inc = incident.declare(store, cfg.model.incidents, title, severity, actor or me(), now,
                               components=list(components), summary=summary,
                               detected_at=parse_at(detected) if detected else None, model=cfg.model)
    _render(ctx, inc)
    return 0


@incident_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="open incidents only (the default)")
@click.option("--all", "show_all", is_flag=True, help="every incident, closed and cancelled ones too")
@click.option("--since", default=None, metavar="DURATION", help="declared in the last DURATION, e.g. 30d")
@common
def incident_list(ctx: Ctx, only_open: bool, show_all: bool, since: str | None) -> int:
    """Incidents, newest first (open ones unless --all)."""
    from rich.markup import escape

    from ..errors import UsageError
    from ..ops import incident
    from ..render.table import columns_table
    from ..results import utcnow

    if only_open and show_all:
        raise UsageError("--open and --all contradict each other", hint="pick one (--open is the default)")
    now = utcnow()
    cutoff = incident.since_cutoff(now, parse_seconds(since) if since else None)
    with ctx.open_store(ctx.config) as store:
        items = incident.list_incidents(store, open_only=not show_all, since=cutoff)
    if ctx.json:
        ctx.emit({"schema": "opsbook.incidents/1", "incidents": [i.to_dict(with_events=False) for i in items]})
        return 0
    if not items:
        out.print("no open incidents" if not show_all else "no incidents")
        return 0
    t = columns_table("id", "severity", "status", "title", "commander", "declared (UTC)", "time to resolve")
    for i in items:
        r = i.row
        t.add_row(str(r.id), r.severity, r.status, escape(r.title), escape(r.commander or "-"),
                  _when(r.declared_at), _dur(i.durations()["time_to_resolve"]))
    out.print(t)
    return 0


@incident_group.command("show")
@click.argument("incident_id", type=int)
@common
def incident_show(ctx: Ctx, incident_id: int) -> int:
    """An incident: its record, its derived times and its timeline (its events, alerts, check
    flips, notifications, job runs and silences around it)."""
    from ..ops import escalation, incident, timeline
    from ..results import utcnow

    with ctx.open_store(ctx.config) as store:
        inc = incident.show(store, incident_id)
        tl = timeline.for_incident(store, inc.row, utcnow())
        esc = escalation.state(ctx.config, store, incident_id)
    _render(ctx, inc, tl, esc)
    return 0


@incident_group.command("escalate")
@click.argument("incident_id", type=int)
@as_option
@common
def incident_escalate(ctx: Ctx, incident_id: int, actor: str | None) -> int:
    """Fire the incident's next escalation level now, without waiting for it."""
    from rich.markup import escape

    from ..ops import escalation
    from ..results import utcnow

    cfg = ctx.config
    who = actor or me()
    with ctx.open_store(cfg) as store:
        done = escalation.escalate(store, cfg, incident_id, who, utcnow(), worker=f"cli:{who}")
        esc = escalation.state(cfg, store, incident_id)
    if ctx.json:
        ctx.emit({"schema": "opsbook.incident-escalation/1", **done.to_dict(),
                  "escalation": esc.to_dict() if esc else None})
        return 0
    if done.action == "stopped":
        out.print(f"incident {incident_id}: escalation stopped ({escape(done.reason)})")
        return 0
    who_line = ", ".join(f"{p} ({why})" for p, why in done.people.items()) or "-"
    out.print(f"incident {incident_id}: {escape(done.policy)} level {done.level} (round {done.round}) fired")
    out.print(f"  people: {escape(who_line)}")
    out.print(f"  receivers: {escape(', '.join(done.receivers) or 'none')}")
    for u in done.unreached:
        out.print(f"  [yellow]not reached[/]: {escape(u)}")
    if esc is not None:
        out.print(f"  next: {escape(esc.line())}")
    return 0


@incident_group.command("assign")
@click.argument("incident_id", type=int)
@click.option("--role", required=True, help="a role from incidents.roles (commander, communications, scribe)")
@click.option("--person", required=True, help="who takes it (checked against people: when the config has it)")
@as_option
@common
def incident_assign(ctx: Ctx, incident_id: int, role: str, person: str, actor: str | None) -> int:
    """Give a role on an open incident to a person."""
    from ..ops import incident
    from ..results import utcnow

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        inc = incident.assign(store, cfg.model.incidents, incident_id, role, person, actor or me(), utcnow(),
                              people=_people(cfg))
    _render(ctx, inc)
    return 0


@incident_group.command("note")
@click.argument("incident_id", type=int)
@click.argument("text")
@as_option
@common
def incident_note(ctx: Ctx, incident_id: int, text: str, actor: str | None) -> int:
    """Add a line to the incident's timeline."""
    from ..ops import incident
    from ..results import utcnow

    with ctx.open_store(ctx.config) as store:
        inc = incident.note(store, incident_id, text, actor or me(), utcnow())
    _render(ctx, inc)
    return 0


def _mover(name: str, to: str, doc: str) -> click.Command:
    @click.argument("incident_id", type=int)
    @as_option
    @common
    def cmd(ctx: Ctx, incident_id: int, actor: str | None, **kw: Any) -> int:
        from ..ops import incident
        from ..results import utcnow

        with ctx.open_store(ctx.config) as store:
            inc = incident.move(store, incident_id, to, actor or me(), utcnow(), reason=kw.get("reason") or "")
        _render(ctx, inc)
        return 0

    cmd.__doc__ = doc
    if name == "cancel":
        cmd = click.option("--reason", default="", help="why (a false alarm, a duplicate)")(cmd)
    return incident_group.command(name)(cmd)


incident_ack = _mover("ack", "investigating", "Acknowledge: someone is on it (triage -> investigating).")
incident_mitigate = _mover("mitigate", "mitigated", "The impact is stopped; the cause may not be fixed yet.")
incident_resolve = _mover("resolve", "resolved", "The cause is fixed; the incident is over.")
incident_cancel = _mover("cancel", "cancelled", "Cancel an open incident (a false alarm, a duplicate).")


@incident_group.command("close")
@click.argument("incident_id", type=int)
@click.option("--without-postmortem", "reason", default=None, metavar="REASON",
              help="close although its required post-mortem is not written (recorded with REASON)")
@as_option
@common
def incident_close(ctx: Ctx, incident_id: int, reason: str | None, actor: str | None) -> int:
    """Close a resolved incident: nothing more to do on it. Refused (exit 1) while a post-mortem
    its severity requires is not written."""
    from ..ops import incident_edit
    from ..results import utcnow

    cfg = ctx.config
    with ctx.open_store(cfg) as store:
        inc = incident_edit.close(store, cfg.model.incidents, incident_id, actor or me(), utcnow(),
                                  without_postmortem=reason)
    _render(ctx, inc)
    return 0


@incident_group.command("edit")
@click.argument("incident_id", type=int)
@click.option("--severity", "-s", default=None, help="a severity from incidents.severities (e.g. SEV1)")
@click.option("--title", default=None, help="the new title")
@click.option("--summary", default=None, help="the new summary (what is known)")
@click.option("--expect-version", "version", type=int, default=None, metavar="N",
              help="refuse (exit 1) unless the incident is still at version N (as you last saw it)")
@as_option
@common
def incident_edit(ctx: Ctx, incident_id: int, severity: str | None, title: str | None, summary: str | None,
                  version: int | None, actor: str | None) -> int:
    """Change an incident's severity, title or summary (internal; `incident update` posts publicly)."""
    from ..ops import incident, incident_edit
    from ..results import utcnow

    cfg = ctx.config
    if severity is not None:
        incident.check_severity(cfg.model.incidents, severity)  # before the store is opened
    with ctx.open_store(cfg) as store:
        inc = incident_edit.edit(store, cfg.model.incidents, incident_id, actor or me(), utcnow(),
                                 severity=severity, title=title, summary=summary, expected_version=version)
    _render(ctx, inc)
    return 0


@incident_group.command("merge")
@click.argument("incident_id", type=int)
@click.option("--into", "into", type=int, required=True, metavar="OTHER", help="the incident that goes on")
@click.option("--reason", default="", help="why (shown on both incidents)")
@as_option
@common
def incident_merge(ctx: Ctx, incident_id: int, into: int, reason: str, actor: str | None) -> int:
    """Merge a duplicate incident into OTHER: it becomes merged (finished); its alerts join OTHER."""
    from ..ops import incident_edit
    from ..results import utcnow

    with ctx.open_store(ctx.config) as store:
        inc = incident_edit.merge(store, incident_id, into, actor or me(), utcnow(), reason=reason)
    _render(ctx, inc)
    return 0


@incident_group.command("update")
@click.argument("incident_id", type=int)
@click.option("--public", "message", required=True, metavar="MESSAGE",
              help="the update's text, shown on the public status page")
@click.option("--status", "public_status", required=True,
              type=click.Choice(["investigating", "identified", "monitoring", "resolved"]),
              help="the public status: investigating, identified, monitoring, resolved")
@click.option("--component", "components", multiple=True, metavar="NAME=IMPACT",
              help="an affected status page component, IMPACT degraded or outage (repeatable)")
@as_option
@common
def incident_update(ctx: Ctx, incident_id: int, message: str, public_status: str, components: tuple[str, ...],
                    actor: str | None) -> int:
    """Post a public update on an incident: shown on /status until it is resolved."""
    from ..ops import incident_update
    from ..ops.status_notice import parse_components
    from ..results import utcnow

    cfg = ctx.config
    parse_components(cfg, components)  # a typo is exit 2 before the store is opened
    with ctx.open_store(cfg) as store:
        done = incident_update.publish(store, cfg, incident_id, message, public_status, actor or me(), utcnow(),
                                       components=components)
    if ctx.json:
        ctx.emit({"schema": "opsbook.incident-update/1", **done.to_dict()})
        return 0
    u = done.update
    comps = ", ".join(f"{k}={v}" for k, v in u.components.items()) or "-"
    out.print(f"incident {incident_id}: public update {u.id} posted ({u.status}; components: {comps})")
    return 0


@incident_group.group("action")
def incident_action_group() -> None:
    """Action items: the follow-up work an incident leaves (add, done, list)."""


def _render_actions(ctx: Ctx, items: list[Any], incident_id: int | None) -> None:
    from rich.markup import escape

    from ..render.table import columns_table
    from ..results import utcnow

    today = utcnow().date()
    if ctx.json:
        ctx.emit({"schema": "opsbook.incident-actions/1", "incident": incident_id,
                  "actions": [a.to_dict(today) for a in items]})
        return
    if not items:
        out.print(f"incident {incident_id} has no action items" if incident_id else "no open action items")
        return
    t = columns_table("id", "incident", "status", "action", "owner", "due", "done")
    for a in items:
        r = a.row
        due = r.due.isoformat() if r.due else "-"
        t.add_row(str(r.id), str(r.incident_id), r.status, escape(r.text), escape(r.owner or "-"),
                  f"[red]{due} (overdue)[/]" if a.overdue(today) else due,
                  f"{_when(r.done_at)} by {escape(r.done_by or '')}" if r.done_at else "-")
    out.print(t)


@incident_action_group.command("add")
@click.argument("incident_id", type=int)
@click.argument("text")
@click.option("--owner", default=None, metavar="NAME", help="who does it (checked against people: when set)")
@click.option("--due", default=None, metavar="DATE", help="by when (YYYY-MM-DD)")
@as_option
@common
def incident_action_add(ctx: Ctx, incident_id: int, text: str, owner: str | None, due: str | None,
                        actor: str | None) -> int:
    """Add an action item to an incident."""
    from ..ops import incident_action
    from ..results import utcnow

    cfg = ctx.config
    due_date = incident_action.parse_due(due) if due else None
    with ctx.open_store(cfg) as store:
        a = incident_action.add(store, incident_id, text, actor or me(), utcnow(), owner=owner, due=due_date,
                                people=_people(cfg))
    _render_actions(ctx, [a], incident_id)
    return 0


@incident_action_group.command("done")
@click.argument("incident_id", type=int)
@click.argument("action_id", type=int)
@as_option
@common
def incident_action_done(ctx: Ctx, incident_id: int, action_id: int, actor: str | None) -> int:
    """Mark an action item done."""
    from ..ops import incident_action
    from ..results import utcnow

    with ctx.open_store(ctx.config) as store:
        a = incident_action.done(store, incident_id, action_id, actor or me(), utcnow())
    _render_actions(ctx, [a], incident_id)
    return 0


@incident_action_group.command("list")
@click.argument("incident_id", type=int, required=False)
@common
def incident_action_list(ctx: Ctx, incident_id: int | None) -> int:
    """An incident's action items; without ID, every open one."""
    from ..ops import incident_action

    with ctx.open_store(ctx.config) as store:
        items = incident_action.listing(store, incident_id, open_only=incident_id is None)
    _render_actions(ctx, items, incident_id)
    return 0


@incident_group.command("postmortem")
@click.argument("incident_id", type=int)
@click.option("--out", "out_file", default=None, metavar="FILE",
              help="write the Markdown here (0600), not to stdout; records the post-mortem as written")
@as_option
@common
def incident_postmortem(ctx: Ctx, incident_id: int, out_file: str | None, actor: str | None) -> int:
    """A post-mortem draft in Markdown: times, impact, error budget spent, timeline, action items.
    With --out the file is written and the incident records it (a `postmortem` event): that
    settles a required post-mortem (`incident close`, `incident postmortem overdue`)."""
    from pathlib import Path

    from ..errors import CouldNotRun
    from ..fsmode import private_dir, write_private
    from ..ops import incident_edit, postmortem
    from ..render.postmortem import markdown
    from ..results import utcnow

    cfg = ctx.config
    template = postmortem.template_text(cfg)
    with ctx.open_store(cfg) as store:
        doc = postmortem.build(cfg, store, incident_id, utcnow()).to_dict()
    text = markdown(doc, template)
    if out_file:
        try:
            write_private(private_dir(Path(out_file).parent) / Path(out_file).name, text)
        except OSError as e:
            raise CouldNotRun(f"cannot write the post-mortem to {out_file}: {e.strerror or e}",
                              hint="check the directory exists and is writable") from None
        with ctx.open_store(cfg) as store:
            incident_edit.record_postmortem(store, incident_id, actor or me(), utcnow(),
                                            file=str(Path(out_file).resolve()))
    if ctx.json:
        ctx.emit({**doc, "written": out_file, "markdown": None if out_file else text})
    elif out_file:
        out.print(f"wrote the post-mortem of incident {incident_id} to {out_file}")
    else:
        click.echo(text, nl=False)
    return 0


@incident_group.command("stats")
@click.option("--since", default="90d", show_default=True, metavar="DURATION",
              help="incidents declared in the last DURATION (e.g. 30d, 1y)")
@common
def incident_stats(ctx: Ctx, since: str) -> int:
    """How many incidents of each severity, and their mean time to acknowledge and resolve."""

    from ..ops import incident, incident_stats
    from ..render.table import columns_table
    from ..results import utcnow

    now = utcnow()
    cutoff = incident.since_cutoff(now, parse_seconds(since))
    with ctx.open_store(ctx.config) as store:
        st = incident_stats.compute(store, ctx.config.model.incidents, cutoff, now)
    if ctx.json:
        ctx.emit(st.to_dict())
        return 0
    out.print(f"incidents declared since {_when(cutoff)} (UTC)"
              + (" [yellow](truncated: the newest are counted)[/]" if st.truncated else ""))
    t = columns_table("severity", "count", "open", "cancelled", "MTTA", "MTTR")
    for s in [*st.by_severity, st.total]:
        t.add_row(s.severity, str(s.count), str(s.open), str(s.cancelled), _dur(s.mtta), _dur(s.mttr))
    out.print(t)
    return 0
