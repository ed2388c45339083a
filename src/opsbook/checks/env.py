"""``env``: validate one environment's variables against its ``env_contract:`` on a schedule.
Observations carry counts and variable names, never a value (docs/checks/env.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ..config.models import CheckParams
from ..errors import OpsbookError, ProbeError
from .base import Probe, ProbeContext


class EnvParams(CheckParams):
    environment: str = Field(description="the environment to validate (one of the contract's)")
    app: str | None = Field(default=None, description="the env_contract app (default: the only one)")
    compare: bool = Field(default=False, description="also read the other environments named in differs_between/"
                                                     "same_in with this one, and judge those rules")


class EnvCheck:
    name: ClassVar[str] = "env"
    Params: ClassVar[type[CheckParams]] = EnvParams
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    default_expect: ClassVar[tuple[str, ...]] = ("violations == 0",)
    imports: ClassVar[tuple[str, ...]] = ("dotenv",)
    observations: ClassVar[dict[str, str]] = {
        "violations": "how many rules the environment breaks",
        "missing": "names of required variables not set (or empty)",
        "invalid": "names of variables whose value is not of their type",
        "forbidden": "names of variables holding a forbidden value",
        "equal": "names of variables equal to another environment's where differs_between forbids it",
        "variables": "how many variables the contract lists",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        from ..envcontract.run import evaluate, pick_app

        p: EnvParams = params
        envs = [p.environment]
        if p.compare:
            _, app = pick_app(ctx.config, p.app)
            for var in app.variables.values():
                for a, b in var.pairs():
                    if p.environment in (a, b):
                        envs.append(b if a == p.environment else a)
                if p.environment in var.same_in:
                    envs.extend(var.same_in)
            envs = list(dict.fromkeys(envs))
        try:
            report = await asyncio.to_thread(evaluate, ctx.config, Path(ctx.base_dir), p.app, envs,
                                             None, p.compare)
        except OpsbookError as e:
            raise ProbeError(e.message, hint=e.hint, retryable=False) from None
        mine = [v for v in report.violations if p.environment in v.env.split(",")]
        kinds = ("missing", "invalid", "forbidden", "equal")
        by = {k: sorted({v.variable for v in mine if v.kind == k}) for k in kinds}
        obs = {"violations": len(mine), **by, "variables": len(report.variables)}
        summary = (f"{report.app}/{p.environment}: {len(report.variables)} variables, "
                   + (f"{len(mine)} violation(s): " + "; ".join(v.message for v in mine[:3]) if mine else "all valid"))
        return Probe(obs, summary)


KIND = EnvCheck()
