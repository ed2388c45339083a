"""What every command shares: the common options, the output consoles, error -> exit code.

Command groups living in their own modules (``cli_<area>.py``) import ``common`` and ``Ctx``
from here and are registered in cli.py with one line each.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from . import app
from .config.load import Config
from .config.secrets import redactor
from .errors import ConfigErrors, OpsbookError
from .render import jsondoc

F = TypeVar("F", bound=Callable[..., Any])

# CI logs are not terminals; 80 columns would fold every summary, so use a wider page there
_WIDTH = None if os.environ.get("COLUMNS") else 120
out = Console(highlight=False, width=None if sys.stdout.isatty() else _WIDTH)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _WIDTH)


class Ctx:
    """What every command receives: the common options, and lazy config/store."""

    def __init__(self, config_path: str | None, env: str | None, json_out: bool, store: str | None) -> None:
        self.config_path = config_path
        self.env = env
        self.json = json_out
        self.store_override = store
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = app.load(self.config_path, self.env)
        return self._config

    def emit(self, doc: Any) -> None:
        click.echo(jsondoc.dumps(doc))

    @property
    def console(self) -> Console:
        # with --json, stdout carries only the JSON document; people read stderr
        return err if self.json else out


def common(fn: F) -> F:
    """--config/--env/--json/--store on every command, and the error-to-exit-code mapping."""

    @click.option("--config", "-c", "config_path", envvar="OPSBOOK_CONFIG", default=None,
                  help="config file (default ./opsbook.yaml)", metavar="FILE")
    @click.option("--env", "-e", "env", envvar="OPSBOOK_ENV", default=None,
                  help="environment from environments: to use", metavar="NAME")
    @click.option("--json", "json_out", is_flag=True, help="print one JSON document on stdout")
    @click.option("--store", "store", default=None, metavar="URL",
                  help="result store (sqlite:///file.db or postgresql://...); default from the config")
    @functools.wraps(fn)
    def wrapper(config_path: str | None, env: str | None, json_out: bool, store: str | None,
                **kwargs: Any) -> None:
        ctx = Ctx(config_path, env, json_out, store)
        try:
            code = fn(ctx, **kwargs)
        except OpsbookError as e:
            code = report_error(ctx, e)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            code = 130
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as e:  # a bug: say so plainly, keep secrets out, still no wall of text
            if os.environ.get("OPSBOOK_DEBUG"):
                traceback.print_exc()
            internal = OpsbookError(
                f"internal error: {type(e).__name__}: {e}",
                hint="this is a bug in opsbook; rerun with OPSBOOK_DEBUG=1 for the traceback and report it",
            )
            code = report_error(ctx, internal)
        sys.exit(code or 0)

    return wrapper  # type: ignore[return-value]


def report_error(ctx: Ctx, e: OpsbookError) -> int:
    if ctx.json:
        ctx.emit(jsondoc.error_doc(e.to_dict(), e.exit_code))
    if isinstance(e, ConfigErrors):
        err.print(f"error: {len(e.errors)} problem(s) in the config:", style="red", markup=False)
        for ce in e.errors:
            err.print(f"  {redactor.text(ce.message)}", markup=False, soft_wrap=True)
            if ce.hint:
                err.print(f"    hint: {redactor.text(ce.hint)}", markup=False, soft_wrap=True)
    else:
        err.print(f"error: {redactor.text(e.message)}", markup=False, style="red", soft_wrap=True)
        if e.hint:
            err.print(f"  hint: {redactor.text(e.hint)}", markup=False, soft_wrap=True)
    return e.exit_code


def record_run(ctx: Ctx, cfg: Config, kind: str, name: str, ok: bool, doc: dict[str, Any],
               started_at: Any = None, status: str | None = None) -> None:
    """Record a gate/smoke/job run in the store; a store problem is a warning, not a failure."""
    from .results import utcnow

    try:
        store = app.open_store(cfg, ctx.store_override)
    except OpsbookError as e:
        err.print(f"warning: not recorded: {e.message}", markup=False)
        return
    try:
        now = utcnow()
        store.record_run(kind, name, ok=ok, status=status or ("pass" if ok else "fail"),
                         started_at=started_at or now, finished_at=now, detail=doc, env=cfg.env)
    except OpsbookError as e:
        err.print(f"warning: not recorded: {e.message}", markup=False)
    finally:
        store.close()
