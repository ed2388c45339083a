"""`opsbook serve`: the daemon (scheduler + dashboard), and `opsbook demo` (the work: opsbook.daemon, .demo)."""

from __future__ import annotations

import click

from .common import Ctx, common


@click.command("serve")
@click.option("--no-web", is_flag=True, help="run the scheduler only, without the dashboard and API")
@click.option("--host", default=None, metavar="ADDR", help="listen address (default serve.host, 127.0.0.1)")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="listen port (default serve.port, 8080; 0 picks a free one)")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="log lines as text (stderr) or one JSON object per line (stdout); default serve.log_format")
@click.option("--once", is_flag=True, help="run what is due now, wait for it, and exit (no dashboard)")
@common
def serve_cmd(ctx: Ctx, no_web: bool, host: str | None, port: int | None, log_format: str | None,
              once: bool) -> int:
    """Run checks, jobs, alert rules and notifications on their schedules, and serve the dashboard.

    Several `opsbook serve` processes may share one PostgreSQL store: each unit runs once.
    SIGHUP reloads the config; SIGTERM finishes the work in flight and exits 0.
    """
    from ..daemon.main import Options, serve

    fmt = log_format or ("json" if ctx.json else None)
    return serve(Options(config_path=ctx.config_path, env=ctx.env, store=ctx.store_override, web=not no_web,
                         host=host, port=port, log_format=fmt, once=once))


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from ..durations import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


# `opsbook demo`: the tour, then (in a terminal) the daemon with a fault that fires and resolves.
@click.command("demo")
@click.option("--workdir", default=None, metavar="DIR", help="where to put the demo's files")
@click.option("--serve/--no-serve", "serve", default=None,
              help="after the tour, run `opsbook serve` and show an alert fire and resolve "
                   "(default: when stdout is a terminal)")
@click.option("--tour/--no-tour", "tour", default=True, help="run the scripted CLI tour first (default: yes)")
@click.option("--fault-after", default="60s", metavar="DURATION", callback=_duration,
              help="break the service this long after the daemon starts", show_default=True)
@click.option("--duration", default=None, metavar="DURATION", callback=_duration,
              help="keep the daemon running this long after the alert resolved "
                   "(default: until Ctrl-C in a terminal, else 0)")
@click.option("--fast", is_flag=True,
              help="check every 1s and fire after 2s, for CI (default: every 5s, fire after 15s)")
@common
def demo_cmd(ctx: Ctx, workdir: str | None, serve: bool | None, tour: bool, fault_after: float,
             duration: float | None, fast: bool) -> int:
    """Start the bundled sample service and run opsbook against it, end to end; then the daemon."""
    import signal
    import sys
    from pathlib import Path

    from ..demo.run import run_demo

    def stop(signum: int, frame: object) -> None:
        # a closed terminal (SIGHUP) or `kill` (SIGTERM) stops the demo like Ctrl-C: the sample
        # service and the daemon it started are stopped, never left running
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    interactive = sys.stdout.isatty()
    serve = interactive if serve is None else serve
    linger = duration if duration is not None else (None if interactive else 0.0)
    return run_demo(Path(workdir) if workdir else None, tour=tour, serve=serve, fault_after=fault_after,
                    linger=linger, fast=fast)
