"""One contract evaluation: pick the app, read each environment's source, judge. Shared by
``opsbook env check|diff|matrix`` and the ``env`` check kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.env_contract import AppContract, SourceSpec, app_envs
from ..config.references import missing
from ..errors import UsageError
from .judge import Fingerprints, Report, judge
from .sources import read_source


def pick_app(cfg: Any, app: str | None) -> tuple[str, AppContract]:
    contract: dict[str, AppContract] = cfg.env_contract
    if not contract:
        raise UsageError("the config has no env_contract:", hint="see docs/env.md for the shape")
    if app is None:
        if len(contract) > 1:
            raise UsageError(f"several apps have contracts: {', '.join(contract)}", hint="pass --app NAME")
        app = next(iter(contract))
    if app not in contract:
        message, hint = missing("env_contract app", app, contract)
        raise UsageError(message, hint=hint)
    return app, contract[app]


def check_envs(cfg: Any, app: AppContract, envs: list[str]) -> None:
    known = app_envs(cfg, app)
    for e in envs:
        if e not in known:
            message, hint = missing("environment", e, known)
            raise UsageError(message, hint=hint)


def source_for(app: AppContract, env: str, override: SourceSpec | None) -> SourceSpec:
    if override is not None:
        return override
    spec = app.sources.get(env)
    if spec is None:
        raise UsageError(f"no source for environment {env!r}",
                         hint=f"add env_contract.<app>.sources.{env} (process, dotenv or command), "
                              "or pass --from-env / --from-dotenv / --from-command")
    return spec


def evaluate(cfg: Any, base_dir: Path | None, app: str | None, envs: list[str],
             overrides: dict[str, SourceSpec] | None = None, relations: bool = True,
             fps: Fingerprints | None = None) -> Report:
    name, contract = pick_app(cfg, app)
    check_envs(cfg, contract, envs)
    names = list(contract.variables)
    values = {}
    for env in envs:
        spec = source_for(contract, env, (overrides or {}).get(env))
        values[env] = read_source(spec, base_dir, names).data
    return judge(name, contract, values, fps, relations)
