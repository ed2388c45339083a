"""What every command shares: the common options, the output consoles, error -> exit code.

Each command group lives in its own module (cli/<group>.py), imports ``common`` and ``Ctx``
from here, and is added to the root group in cli/main.py. Module level imports stay light
(click only): what a command needs is imported when it runs, so ``opsbook --version`` loads
no config, store or rich code.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..errors import ConfigErrors, OpsbookError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from ..config.load import Config
    from ..ops.record import Recorder
    from ..store import Store

F = TypeVar("F", bound=Callable[..., Any])

# CI logs are not terminals; 80 columns would fold every summary, so use a wider page there
_WIDTH = None if os.environ.get("COLUMNS") else 120


class _LazyConsole:
    """A rich Console made on first use (importing rich costs more than `opsbook --version` may take)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            tty = (sys.stderr if self._stderr else sys.stdout).isatty()
            self._console = Console(stderr=self._stderr, highlight=False, width=None if tty else _WIDTH)
        return getattr(self._console, name)


out = cast("Console", _LazyConsole(stderr=False))
err = cast("Console", _LazyConsole(stderr=True))


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
            from ..ops.load import load

            self._config = load(self.config_path, self.env)
        return self._config

    def open_store(self, cfg: Config | None) -> Store:
        """The store (--store, $OPSBOOK_STORE, the config's store.url, else ./.opsbook/opsbook.db)."""
        from ..ops.load import open_store

        return open_store(cfg, self.store_override)

    def recorder(self, cfg: Config, enabled: bool = True) -> Recorder:
        """Where an operation records its run: the store, opened when it records; a store that
        cannot be opened or written is a warning, not the command's failure."""
        from ..ops.record import Recorder

        return Recorder(cfg.env, opener=lambda: self.open_store(cfg), warn=warn, enabled=enabled)

    def emit(self, doc: Any) -> None:
        from ..render import jsondoc

        click.echo(jsondoc.dumps(doc))

    @property
    def console(self) -> Console:
        # with --json, stdout carries only the JSON document; people read stderr
        return err if self.json else out


def warn(text: str) -> None:
    err.print(text, markup=False)


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
    from ..config.secrets import redactor
    from ..render import jsondoc

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


# -- shared by several groups -------------------------------------------------------------------


def parse_at(text: str | None) -> datetime:
    """--at TIME: evaluate as of this time (ISO 8601; no zone means UTC). Default: now."""
    if not text:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at {text!r} is not a time", hint="write it like 2025-06-01T12:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


at_option = click.option("--at", "at", default=None, metavar="TIME",
                         help="evaluate as of this time (ISO 8601; default now)")


def parse_seconds(text: str) -> float:
    """A duration option (30s, 5m, 2h); a bad one is a usage error."""
    from ..durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def me() -> str:
    """Who is acting: $USER, else the login name."""
    import getpass

    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:
        return "unknown"


def when(d: Any) -> str:
    if not d:
        return "-"
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    return str(d.strftime("%Y-%m-%d %H:%M:%S"))
