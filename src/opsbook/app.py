"""The functions behind every surface: the CLI calls these, and so will the API.

This is where the layers meet: load the config with the registry's kinds, open the store,
run checks and record what happened.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .checks.base import CheckKind
from .checks.registry import KINDS
from .config.load import Config, load_config
from .config.models import Plugins
from .results import CheckResult
from .runner import run_checks

if TYPE_CHECKING:
    from .store import Flip, Store

STORE_ENV = "OPSBOOK_STORE"


def kinds_info() -> Plugins:
    """The registries the config is validated against (opsbook/plugins.py)."""
    from .plugins import PLUGINS

    return PLUGINS


def load(path: str | Path | None, env: str | None = None) -> Config:
    return load_config(path, kinds_info(), env=env)


def store_url(config: Config | None, override: str | None = None) -> str:
    if override:
        return override
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    if config is None:
        return f"sqlite:///{Path.cwd() / '.opsbook' / 'opsbook.db'}"
    return config.store_url()


def open_store(config: Config | None, override: str | None = None) -> Store:
    from .store import Store

    return Store.open(store_url(config, override))


async def check(
    config: Config,
    names: Iterable[str] = (),
    *,
    store: Store | None = None,
    concurrency: int | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    kinds: dict[str, CheckKind] | None = None,
) -> tuple[list[CheckResult], list[Flip]]:
    results = await run_checks(config, kinds or KINDS, names, concurrency=concurrency, on_result=on_result)
    flips = store.record_results(results) if store is not None else []
    return results, flips
