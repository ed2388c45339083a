"""``opsbook runbook``: the group. (Minimal here: the parser helper's list/show/lint join it;
the run commands come from cli/runbook_run.py.)"""

from __future__ import annotations

import click

from . import runbook_run


@click.group("runbook")
def runbook_group() -> None:
    """Executable runbooks: Markdown procedures whose steps run and leave a record."""


for _command in runbook_run.COMMANDS:
    runbook_group.add_command(_command)
