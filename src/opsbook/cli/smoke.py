"""``opsbook smoke NAME`` (the work is in ops/smoke.py, the engine in opsbook.smoke)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import Ctx, common, err, out

if TYPE_CHECKING:
    from ..smoke import StepResult


@click.command("smoke")
@click.argument("name")
@click.option("--base-url", default=None, metavar="URL", help="run against this base URL")
@click.option("--junit", "junit", default=None, metavar="FILE", help="also write JUnit XML")
@common
def smoke_cmd(ctx: Ctx, name: str, base_url: str | None, junit: str | None) -> int:
    """Run a smoke suite: multi-step HTTP scenarios with captures and finally steps."""
    from ..ops import smoke
    from ..render.table import status_text

    cfg = ctx.config
    live = not ctx.json and err.is_terminal  # the final report repeats every step

    def on_step(step: StepResult) -> None:
        if live:
            err.print(f"  {status_text(step.status) if step.status in ('pass', 'fail', 'error') else step.status}"
                      f" {step.method} {step.name}", highlight=False)

    result = smoke.run(cfg, name, ctx.recorder(cfg), base_url, on_step=on_step)
    if junit:
        from pathlib import Path

        from ..render.junit import smoke_to_junit

        Path(junit).write_text(smoke_to_junit(result))
    if ctx.json:
        ctx.emit(result.to_dict())
    else:
        from ..render.smoke import render_smoke

        render_smoke(out, result)
    return 0 if result.ok else 1
