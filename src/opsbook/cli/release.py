"""``opsbook release record|list|show|current|rollback|stats|rollouts|rollout`` and ``opsbook gate deploy`` (attached
to the gate group in cli/gate.py). The work is in ops/release.py, ops/release_stats.py and
ops/deploy_gate.py.

A release's environment is the common ``--env``: with ``environments:`` in the config it also
picks that environment's config (the verify checks of a production rollback run against
production); a config without ``environments:`` takes any name."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .common import Ctx, at_option, common, err, me, out, parse_at, parse_seconds

if TYPE_CHECKING:
    from ..config.load import Config
    from ..store.releases import ReleaseRow


def _config(ctx: Ctx, default: str | None = None, required: bool = True) -> tuple[Config, str | None]:
    """The config and the release environment (--env, else the config's, else ``default``)."""
    from ..errors import ConfigError, UsageError

    wanted = ctx.env
    try:
        cfg = ctx.config
    except ConfigError as e:
        # no environments: at all: --env only names the release's environment
        if not (wanted and e.path == "environments" and e.hint.endswith("(none)")):
            raise
        ctx.env = None
        cfg = ctx.config
    env = wanted or cfg.env or default
    if env is None and required:
        raise UsageError("which environment? pass --env NAME", hint="e.g. --env production")
    return cfg, env


def _who(by: str | None) -> str:
    return by or os.environ.get("OPSBOOK_OPERATOR") or os.environ.get("GITHUB_ACTOR") or me()


def _time(text: str | None, option: str) -> datetime | None:
    from ..errors import UsageError

    if text is None:
        return None
    try:
        return parse_at(text)
    except UsageError:
        raise UsageError(f"{option} {text!r} is not a time", hint="ISO 8601, e.g. 2026-06-01T12:00:00Z") from None


def _line(r: ReleaseRow) -> str:
    from .common import when

    mark = {"rolled_back": "  ROLLED BACK", "rolling_back": "  <- current, ROLLING BACK", "superseded": "",
            "deployed": "  <- current"}.get(r.status, "")
    return f"{when(r.recorded_at)}  {r.service:<16} {r.env:<12} {r.version:<20} {r.by}{mark}"


@click.group("release")
def release_group() -> None:
    """The release registry: record deploys, roll back with verification, DORA statistics."""


@release_group.command("record")
@click.option("--service", required=True, help="the service deployed, e.g. api")
@click.option("--version", "version", required=True, help="the version deployed, e.g. v1.4.2")
@click.option("--commit", default=None, metavar="SHA", help="the commit built")
@click.option("--committed-at", default=None, metavar="TIME", help="when it was committed (ISO 8601; lead time)")
@click.option("--by", default=None, help="who deployed (default $OPSBOOK_OPERATOR, $GITHUB_ACTOR, $USER)")
@click.option("--url", default=None, help="a link: the CI run, the changelog")
@at_option
@common
def record_cmd(ctx: Ctx, service: str, version: str, commit: str | None, committed_at: str | None,
               by: str | None, url: str | None, at: str | None) -> int:
    """Record a deploy (idempotent: the same service, version and env again exits 0)."""
    from ..ops import release

    cfg, env = _config(ctx)
    assert env is not None
    with ctx.open_store(cfg) as store:
        got = release.record(store, cfg, service=service, version=version, env=env, by=_who(by), now=parse_at(at),
                             commit=commit, committed_at=_time(committed_at, "--committed-at"), url=url)
    if ctx.json:
        ctx.emit(got.to_dict())
    elif got.created:
        out.print(f"recorded {service} {version} in {env}", markup=False)
    else:
        out.print(f"{service} {version} in {env} is already recorded ({got.release.recorded_at.isoformat()})",
                  markup=False)
    return 0


@release_group.command("list")
@click.option("--service", default=None, help="only this service")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@common
def list_cmd(ctx: Ctx, service: str | None, limit: int) -> int:
    """Releases, newest first (of --env when given)."""
    from ..ops import release

    cfg, env = _config(ctx, required=False)
    env = ctx.env and env  # without --env: every environment
    with ctx.open_store(cfg) as store:
        items = release.listing(store, service=service, env=env, limit=limit)
    if ctx.json:
        ctx.emit({"schema": "opsbook.releases/1", "releases": [r.to_dict() for r in items]})
        return 0
    if not items:
        out.print("no releases recorded", markup=False)
    for r in items:
        out.print(_line(r), markup=False, highlight=False)
    return 0


@release_group.command("show")
@click.argument("service")
@click.argument("version")
@common
def show_cmd(ctx: Ctx, service: str, version: str) -> int:
    """One version: where it was deployed and what happened to it."""
    from ..ops import release

    cfg, _ = _config(ctx, required=False)
    with ctx.open_store(cfg) as store:
        found, events = release.show(store, service, version)
    if ctx.json:
        ctx.emit({"schema": "opsbook.release-show/1", "releases": [r.to_dict() for r in found],
                  "events": [e.to_dict() for e in events]})
        return 0
    for r in found:
        out.print(_line(r), markup=False, highlight=False)
        for k, v in (("commit", r.commit), ("committed", r.committed_at), ("url", r.url)):
            if v:
                out.print(f"    {k}: {v}", markup=False)
    for e in events:
        out.print(f"  {e.at.isoformat()} {e.env} {e.kind} by {e.actor}: "
                  + ", ".join(f"{k}={v}" for k, v in e.detail.items() if k not in ("output", "gates")),
                  markup=False, highlight=False)
    return 0


@release_group.command("rollouts")
@click.option("--canary", default=None, metavar="NAME", help="only this canary's rollouts")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@common
def rollouts_cmd(ctx: Ctx, canary: str | None, limit: int) -> int:
    """Canary rollouts (`opsbook gate canary` runs), newest first."""
    from ..ops import rollouts

    with ctx.open_store(ctx.config) as store:
        items = rollouts.listing(store, canary, limit)
    if ctx.json:
        ctx.emit({"schema": "opsbook.api.rollouts/1", "rollouts": items})
        return 0
    if not items:
        out.print("no rollouts recorded", markup=False)
    for r in items:
        score = "" if r["score"] is None else f" score {r['score']:g}"
        out.print(f"#{r['id']:<5} {r['started_at'][:19].replace('T', ' ')}  {r['canary']:<16} {r['status']:<12}"
                  f"{score}  {r['reason']}", markup=False, highlight=False)
    return 0


@release_group.command("rollout")
@click.argument("rollout_id", type=click.IntRange(1, 2**62 - 1))
@click.option("--md", "markdown", is_flag=True, help="print the record as Markdown (as /rollouts/ID.md)")
@common
def rollout_cmd(ctx: Ctx, rollout_id: int, markdown: bool) -> int:
    """One canary rollout's record: its decision, measurements and events."""
    from ..ops import rollouts

    with ctx.open_store(ctx.config) as store:
        if markdown and not ctx.json:
            click.echo(rollouts.markdown(store, rollout_id), nl=False)
            return 0
        doc = rollouts.record(store, rollout_id)
    if ctx.json:
        ctx.emit(doc)
        return 0
    r = doc["rollout"]
    out.print(f"rollout #{r['id']} of {r['canary']}: {r['status']} · {r['reason']}", markup=False, highlight=False)
    out.print(f"  canary {r['canary_url']}, baseline {r['baseline_url']}; started {r['started_at']}", markup=False)
    for e in doc["events"]:
        code = "" if e["exit_code"] is None else f" (exit {e['exit_code']})"
        out.print(f"  {e['at'][:19].replace('T', ' ')} {e['kind']}{code}: {e['message']}", markup=False,
                  highlight=False)
    more = doc["measurements_omitted"]
    out.print(f"  {len(doc['measurements'])} measurement(s){f' (the newest; {more} more)' if more else ''}; "
              f"`opsbook release rollout {r['id']} --md` for the whole record", markup=False, highlight=False)
    return 0


@release_group.command("current")
@click.option("--service", required=True, help="the service")
@common
def current_cmd(ctx: Ctx, service: str) -> int:
    """The release deployed now in --env (exit 1 when none is recorded)."""
    from ..ops import release

    cfg, env = _config(ctx)
    assert env is not None
    with ctx.open_store(cfg) as store:
        r = release.current(store, service, env)
    if ctx.json:
        ctx.emit({"schema": "opsbook.release-current/1", "service": service, "env": env,
                  "release": r.to_dict() if r else None})
    elif r is None:
        err.print(f"no release of {service} in {env} is recorded", markup=False)
    else:
        out.print(r.version, markup=False)
    return 0 if r else 1


@release_group.command("rollback")
@click.argument("service")
@click.option("--to", "to", default="previous", show_default=True, metavar="previous|VERSION",
              help="the release to go back to")
@click.option("--yes", "-y", is_flag=True, help="do not ask")
@click.option("--by", default=None, help="who rolls back (default $OPSBOOK_OPERATOR, $USER)")
@common
def rollback_cmd(ctx: Ctx, service: str, to: str, yes: bool, by: str | None) -> int:
    """Roll back (command or runbook), verify (ready, smoke, checks), record the outcome."""
    from ..errors import UsageError
    from ..ops import release

    cfg, env = _config(ctx, default="production")
    assert env is not None
    with ctx.open_store(cfg) as store:
        p = release.plan(store, cfg, service, to, env)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"rolling {service} back in {env} ({p.current.version} -> {p.target.version}) "
                                 "needs confirmation", hint="pass --yes")
            if not click.confirm(f"roll {service} back in {env}: {p.current.version} -> {p.target.version}?"):
                err.print("not rolled back", markup=False)
                return 1
        result = release.rollback(store, cfg, p, _who(by), ctx.recorder(cfg),
                                  say=lambda s: ctx.console.print(s, markup=False, highlight=False))
    if ctx.json:
        ctx.emit(result.to_dict())
    if result.ok:
        checked = "verified" if result.verify else "not verified (no verify: gates configured)"
        ctx.console.print(f"[green]rolled back[/] {service} in {env} to {result.to_version}, {checked}")
        return 0
    # loud: a failed rollback or verification leaves production in doubt
    banner = "ROLLBACK FAILED" if result.outcome == "rollback_failed" else "ROLLBACK NOT VERIFIED"
    err.print(f"[bold white on red] {banner} [/] {service} in {env}: {result.message}", soft_wrap=True)
    if result.output:
        err.print(result.output[-2000:], markup=False, highlight=False)
    return 1


@release_group.command("stats")
@click.option("--since", default="90d", show_default=True, metavar="DURATION", help="releases of the last DURATION")
@click.option("--service", default=None, help="only this service")
@at_option
@common
def stats_cmd(ctx: Ctx, since: str, service: str | None, at: str | None) -> int:
    """DORA: deployment frequency, lead time, change failure rate, time to restore (of --env)."""
    from datetime import timedelta

    from ..ops import release_stats

    cfg, env = _config(ctx, default="production")
    assert env is not None
    now = parse_at(at)
    with ctx.open_store(cfg) as store:
        st = release_stats.compute(store, cfg.model.releases, env, now - timedelta(seconds=parse_seconds(since)), now,
                                   service=service)
    if ctx.json:
        ctx.emit(st.to_dict())
        return 0
    from ..durations import format_duration

    def d(v: float | None) -> str:
        return "-" if v is None else format_duration(round(v))

    out.print(f"releases to {env} since {st.since.strftime('%Y-%m-%d %H:%M')} UTC", markup=False)
    for s in [*st.services, st.total]:
        doc = s.to_dict()
        rate = doc["change_failure_rate"]
        out.print(f"  {s.service}: {s.deploys} deploys ({doc['deploys_per_week'] or 0:.1f}/week)\n"
                  f"    lead time {d(doc['lead_time']['median_seconds'])} (median of {len(s.lead_times)})\n"
                  f"    change failure rate {'-' if rate is None else f'{rate * 100:.0f}%'} ({s.failed} failed)\n"
                  f"    time to restore {d(doc['time_to_restore']['median_seconds'])} (median of "
                  f"{len(s.restore_times)}; {s.unrestored} not restored)", markup=False, highlight=False)
    return 0


@click.command("deploy")
@click.option("--service", default=None, help="the service to deploy (scopes incidents and the last rollout)")
@click.option("--override", default=None, metavar="REASON", help="deploy anyway: recorded with who and why")
@click.option("--by", default=None, help="who overrides (default $OPSBOOK_OPERATOR, $USER)")
@at_option
@common
def gate_deploy(ctx: Ctx, service: str | None, override: str | None, by: str | None, at: str | None) -> int:
    """Deploy gate: exit 1 while a budget, an incident, a freeze or a failed rollout says no."""
    from ..errors import UsageError
    from ..ops import deploy_gate

    if override is not None and not override.strip():
        raise UsageError("--override needs a reason", hint="e.g. --override 'hotfix for INC-42'")
    cfg, env = _config(ctx, default="production")
    assert env is not None
    with ctx.open_store(cfg) as store:
        v = deploy_gate.check(cfg, store, ctx.recorder(cfg), env, parse_at(at), service=service, override=override,
                              by=_who(by))
    if ctx.json:
        ctx.emit(v.to_dict())
        return 0 if v.ok else 1
    what = f"{service} to {env}" if service else f"to {env}"
    if not v.refusals:
        out.print(f"gate deploy {what}: [green]pass[/]")
    elif v.ok:
        out.print(f"gate deploy {what}: [yellow]overridden[/] by {v.override and v.override['by']}: {override}")
    else:
        out.print(f"gate deploy {what}: [red]refused[/]")
    for r in v.refusals:
        out.print(f"  {r.reason}: {r.message}", markup=False, highlight=False)
    return 0 if v.ok else 1
