"""Config for environment contracts (``env_contract:``) and the secret inventory (``secrets:``).

A contract says, per application, which variables each environment must have and what a valid
value looks like; envcontract/ reads the actual values (process env, dotenv, a command) and
judges them, never printing one. The inventory lists the secrets, who owns them, how often they
rotate and which runbook rotates them; store/secret_rotations.py records the rotations
(docs/env.md, docs/secrets.md)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..durations import PositiveDuration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase

VarType = Literal["string", "url", "postgres_dsn", "int", "duration", "bool", "enum", "regex", "secret"]


class Variable(Model):
    description: str = ""
    type: VarType = Field(default="string", description="what a valid value looks like")
    required_in: list[str] | Literal["all"] = Field(
        default_factory=list, description="environments where it must be set (and not empty); `all` for every one")
    values: list[str] = Field(default_factory=list, description="type enum: the allowed values")
    pattern: str | None = Field(default=None, description="type regex: the value must match it whole")
    schemes: list[str] = Field(default_factory=list, description="type url: allowed schemes (default any)")
    min: int | None = Field(default=None, description="type int: smallest allowed")
    max: int | None = Field(default=None, description="type int: largest allowed")
    min_length: int = Field(default=0, ge=0, description="type secret: fewest characters")
    min_entropy: float = Field(default=0.0, ge=0, description="type secret: fewest bits of entropy "
                                                              "(Shannon, per character x length)")
    forbidden: list[str] = Field(default_factory=list, description="values that must never be used "
                                                                  "(changeme, the example .env's values)")
    differs_between: list[list[str]] | list[str] = Field(
        default_factory=list, description="env pairs [[staging, production]], or a list of envs that must all differ")
    same_in: list[str] = Field(default_factory=list, description="environments where the value must be equal")

    @model_validator(mode="after")
    def _type_keys(self) -> Variable:
        if self.type == "enum" and not self.values:
            raise ValueError("type enum needs values: [...]")
        if self.type == "regex":
            if not self.pattern:
                raise ValueError("type regex needs pattern: ...")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a regular expression: {e}") from None
        if self.type != "enum" and self.values:
            raise ValueError("values: only applies to type enum")
        if self.pattern and self.type != "regex":
            raise ValueError("pattern: only applies to type regex")
        for pair in self.differs_between:
            if isinstance(pair, list) and len(pair) != 2:
                raise ValueError("differs_between: a list of pairs [[a, b]], or a flat list of environments")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """``differs_between`` as pairs of environments that must not hold equal values."""
        if not self.differs_between:
            return []
        if all(isinstance(x, list) for x in self.differs_between):
            return [(str(p[0]), str(p[1])) for p in self.differs_between if isinstance(p, list)]
        envs = [str(x) for x in self.differs_between]
        return [(a, b) for i, a in enumerate(envs) for b in envs[i + 1:]]

    def required(self, env: str) -> bool:
        return self.required_in == "all" or env in self.required_in


class SourceSpec(Model):
    """Where one environment's actual values come from: exactly one of the keys."""

    process: bool = Field(default=False, description="this process's environment")
    dotenv: str | None = Field(default=None, description="a dotenv file, relative to the config")
    command: str | None = Field(default=None, description="a shell command printing JSON or dotenv on stdout")
    timeout: PositiveDuration = Field(default=30.0, description="the command's deadline")

    @model_validator(mode="after")
    def _one(self) -> SourceSpec:
        if sum((self.process, self.dotenv is not None, self.command is not None)) != 1:
            raise ValueError("a source is one of process: true, dotenv: FILE or command: \"...\"")
        return self


class AppContract(Model):
    description: str = ""
    environments: list[str] = Field(default_factory=list, description="this app's environments (default: "
                                    "environments: of the config, else every name the contract uses)")
    sources: dict[str, SourceSpec] = Field(default_factory=dict, description="per environment, where its values "
                                           "come from")
    forbidden: list[str] = Field(default_factory=list, description="values no variable of this app may hold")
    variables: dict[str, Variable] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _names(cls, v: dict[str, Variable]) -> dict[str, Variable]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return v

    def named_envs(self) -> list[str]:
        """Every environment the contract itself names, in first-seen order."""
        seen: dict[str, None] = dict.fromkeys(self.environments)
        seen.update(dict.fromkeys(self.sources))
        for v in self.variables.values():
            if v.required_in != "all":
                seen.update(dict.fromkeys(v.required_in))
            for a, b in v.pairs():
                seen.update(dict.fromkeys((a, b)))
            seen.update(dict.fromkeys(v.same_in))
        return list(seen)


def app_envs(cfg: ConfigBase, app: AppContract) -> list[str]:
    return app.environments or list(cfg.environments) or app.named_envs()


class SecretEntry(Model):
    description: str = ""
    owner: str = ""
    rotate_every: PositiveDuration | None = Field(default=None, description="how often it must be rotated (90d)")
    environments: list[str] = Field(default_factory=list, description="where it exists (rotations are per env)")
    runbook: str | None = Field(default=None, description="the runbook that rotates it: a successful run "
                                                          "records a rotation")

    def due(self, last: datetime | None, now: datetime) -> tuple[datetime | None, bool]:
        """When the next rotation is due after one at ``last``, and whether it is overdue at
        ``now`` (never rotated with a rotate_every: overdue, so the inventory starts honest)."""
        if self.rotate_every is None:
            return None, False
        if last is None:
            return None, True
        due = last + timedelta(seconds=self.rotate_every)
        return due, due <= now


def _env_refs(app_name: str, app: AppContract, known: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, env name) of every environment the contract names."""
    base: tuple[str | int, ...] = ("env_contract", app_name)
    out: list[tuple[tuple[str | int, ...], str]] = [((*base, "sources", e), e) for e in app.sources]
    out += [((*base, "environments", i), e) for i, e in enumerate(app.environments)]
    for vn, v in app.variables.items():
        vp = (*base, "variables", vn)
        if v.required_in != "all":
            out += [((*vp, "required_in", i), e) for i, e in enumerate(v.required_in)]
        for i, x in enumerate(v.differs_between):
            if isinstance(x, list):
                out += [((*vp, "differs_between", i, j), str(e)) for j, e in enumerate(x)]
            else:
                out.append(((*vp, "differs_between", i), str(x)))
        out += [((*vp, "same_in", i), e) for i, e in enumerate(v.same_in)]
    return out


def cross_check_env_contract(cfg: ConfigBase, err: ErrFn, base_dir: Path | None = None) -> None:
    """Environments named by a contract exist (when the config or the app lists them); env
    checks name a contract app and environment; a secret's runbook exists."""
    contract: dict[str, AppContract] = cfg.env_contract
    for app_name, app in contract.items():
        known = app.environments or list(cfg.environments)
        if not known:
            continue  # free names: the contract defines its own environments
        for path, env in _env_refs(app_name, app, known):
            if env not in known:
                err(path, *missing("environment", env, known))
    checks: dict[str, Any] = getattr(cfg, "checks", {})
    for name, check in checks.items():
        kind, params = check.kind_and_params()
        if kind != "env":
            continue
        check_app: str | None = params.app or (next(iter(contract)) if len(contract) == 1 else None)
        if check_app is None or check_app not in contract:
            err(("checks", name, "env", "app"), *missing("env_contract app", str(check_app), contract))
            continue
        envs = app_envs(cfg, contract[check_app])
        if params.environment not in envs:
            err(("checks", name, "env", "environment"), *missing("environment", str(params.environment), envs))
    secrets: dict[str, SecretEntry] = cfg.secrets
    rb_dir = (base_dir / cfg.runbooks.dir) if base_dir is not None else None
    if rb_dir is not None and rb_dir.is_dir():
        names = sorted(p.stem for p in rb_dir.glob("*.md") if p.name.lower() != "readme.md")
        for sname, s in secrets.items():
            if s.runbook is not None and s.runbook not in names:
                err(("secrets", sname, "runbook"), *missing("runbook", s.runbook, names, f"runbooks in {rb_dir}"))
    if cfg.environments:
        for sname, s in secrets.items():
            for i, e in enumerate(s.environments):
                if e not in cfg.environments:
                    err(("secrets", sname, "environments", i), *missing("environment", e, cfg.environments))
