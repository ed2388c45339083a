"""Every registry of pluggable kinds, in one place.

``PLUGINS`` is what the config is validated against: the config layer builds its models from
these registries' config models without importing the kinds' implementations (which sit to
its right). ``REGISTRIES`` is every registry there is, config-only ones included;
tests/test_docs_coverage.py checks that each entry of each has its documentation. A new kind
of pluggable thing (runbook step kinds, canary metric providers, log formats, replay sources)
adds its registry here.
"""

from __future__ import annotations

from typing import Any

from .canary.providers.registry import PROVIDERS
from .checks.registry import KINDS
from .config.models import SMOKE_METHODS, Plugins
from .config.resources import RESOURCES
from .integrity.registry import TYPES
from .logs.formats.registry import FORMATS
from .notify.receivers.registry import RECEIVERS
from .registry import Registry
from .runbooks.steps.registry import STEPS

PLUGINS = Plugins(checks=KINDS, receivers=RECEIVERS, integrity=TYPES, log_formats=FORMATS)

REGISTRIES: tuple[Registry[Any], ...] = (KINDS, RESOURCES, RECEIVERS, TYPES, SMOKE_METHODS, STEPS, PROVIDERS,
                                         FORMATS)
