"""The root command group and ``main``: each command group is one module beside this one.

Exit codes (errors.py): 0 passed, 1 something checked failed, 2 usage/config error,
3 could not run. Expected errors print a message and a hint, never a traceback.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import EXIT_COULD_NOT_RUN, EXIT_USAGE
from . import (
    alerts,
    backup,
    check,
    config,
    db,
    env,
    gate,
    heartbeats,
    incident,
    integrity,
    logs,
    migrate,
    notify,
    oncall,
    release,
    replay,
    runbook,
    secrets,
    serve,
    silence,
    slo,
    smoke,
    status,
    web,
)
from .common import err


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opsbook")
def cli() -> None:
    """opsbook: runbooks that run. Checks, gates, backups, drills, SLOs and alerts from one YAML file.

    Exit codes: 0 passed, 1 something checked failed, 2 usage or config error, 3 could not run.
    """


for _command in (
    config.config_group, config.init_cmd,
    check.check_cmd, check.kinds_cmd, check.history_cmd,
    gate.gate_group, smoke.smoke_cmd,
    backup.backup_group, backup.drill_group, integrity.integrity_group, migrate.migrate_group,
    alerts.alerts_group, slo.slo_group, heartbeats.ping_cmd, heartbeats.heartbeats_group,
    notify.notify_group, silence.silence_group, oncall.oncall_group, incident.incident_group, status.status_group,
    runbook.runbook_group, release.release_group, replay.replay_group, env.env_group, secrets.secrets_group,
    db.db_group, logs.logs_group,
    serve.serve_cmd, serve.demo_cmd, web.export_group,
):
    cli.add_command(_command)


def main() -> None:
    from ..fsmode import private_umask

    private_umask()  # files opsbook, SQLite (WAL/SHM) and pg_dump create are 0600, dirs 0700 (fsmode.py)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except SystemExit:
        raise
    except Exception as e:  # pragma: no cover - last resort
        from ..config.secrets import redactor

        err.print(f"internal error: {type(e).__name__}: {redactor.text(str(e))}", markup=False)
        sys.exit(EXIT_COULD_NOT_RUN)
