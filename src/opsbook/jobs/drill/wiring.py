"""The services a drill's steps call, wired to this process's integrity engine, check runner and
smoke runner. The one place jobs/drill reaches them; an operations layer may pass its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ...config.load import Config
from .context import CheckOutcome, DrillServices, Outcome, SuiteOutcome


def default_services(config: Config) -> DrillServices:
    # imported here, when a drill runs: they are heavy, and a drill without app:/integrity: needs none
    def integrity(suite: str, *, dsn: str | None = None, sqlite_path: str | None = None) -> SuiteOutcome:
        from ...integrity import run_suite

        return asyncio.run(run_suite(config, suite, dsn=dsn, sqlite_path=sqlite_path))

    def ready(names: list[str]) -> Sequence[CheckOutcome]:
        from ...checks.registry import KINDS
        from ...runner import run_checks

        return asyncio.run(run_checks(config, KINDS, names))

    def smoke(suite: str, base_url: str | None) -> Outcome:
        from ...smoke import run_smoke

        return asyncio.run(run_smoke(config, suite, base_url))

    return DrillServices(integrity=integrity, ready=ready, smoke=smoke)
