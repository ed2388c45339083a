"""What every surface does first: load the config with the registry's kinds, find and open the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.load import Config, load_config
from ..config.models import Plugins

if TYPE_CHECKING:
    from ..store import Store

STORE_ENV = "OPSBOOK_STORE"


def kinds_info() -> Plugins:
    """The registries the config is validated against (opsbook/plugins.py)."""
    from ..plugins import PLUGINS

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
    from ..store import Store

    return Store.open(store_url(config, override))
