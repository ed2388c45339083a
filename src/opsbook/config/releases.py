"""Config for releases (``releases:``): per service, how to roll it back (a command or a runbook)
and how to verify it afterwards (ready checks, smoke suites, checks); the change-failure window of
the DORA statistics; and what the deploy gate refuses on. Owned by ops/release.py and
ops/deploy_gate.py (docs/releases.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ..durations import PositiveDuration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase


class Rollback(Model):
    """Exactly one of ``command`` and ``runbook``."""

    command: str | None = Field(default=None, description="a command (split like a shell would, run without a "
                                "shell) with ${version} and ${env} substituted, e.g. fly deploy --image "
                                "registry.fly.io/api:${version}")
    runbook: str | None = Field(default=None, description="a runbook in runbooks.dir, run non-interactively with "
                                "the parameters version and env")
    timeout: PositiveDuration = Field(default=600.0, description="the command is killed after this long")
    cwd: str | None = Field(default=None, description="the command's directory, relative to the config's")

    @model_validator(mode="after")
    def _one(self) -> Rollback:
        if (self.command is None) == (self.runbook is None):
            raise ValueError("a rollback has exactly one of command: and runbook:")
        if self.command is not None and not self.command.strip():
            raise ValueError("rollback command: is empty")
        return self


class Verify(Model):
    ready: list[str] = Field(default_factory=list, description="checks polled until they all pass (gate ready)")
    ready_timeout: PositiveDuration = Field(default=150.0, description="how long the ready checks may take")
    ready_interval: PositiveDuration = Field(default=5.0, description="time between ready attempts")
    smoke: list[str] = Field(default_factory=list, description="smoke suites that must pass")
    checks: list[str] = Field(default_factory=list, description="checks run once that must pass")


class Service(Model):
    environments: list[str] = Field(default_factory=list, description="the environments it is released to "
                                    "(empty: any)")
    components: list[str] = Field(default_factory=list, description="incident components that are this service: "
                                  "only their incidents count for it (empty: every incident)")
    rollback: Rollback | None = Field(default=None, description="how `release rollback` puts a version back")
    verify: Verify = Field(default_factory=Verify, description="the gates run after a rollback")


class DeployGate(Model):
    block_severities: list[str] | None = Field(
        default=None, description="open incidents of these severities refuse deploys (default: the two most severe)")
    block_on_failed_rollout: bool = Field(default=True, description="a failed last rollout/rollback of the "
                                          "service refuses deploys")
    slos: list[str] | None = Field(default=None, description="SLOs whose error budget policy applies "
                                   "(default: every SLO)")


class Releases(Model):
    services: dict[str, Service] = Field(default_factory=dict, description="service name -> its release settings; "
                                         "when any are listed, `release record` accepts only these names")
    change_failure_window: PositiveDuration = Field(
        default=24 * 3600.0, description="a release followed within this long by a rollback or an incident failed")
    gate: DeployGate = Field(default_factory=DeployGate, description="what `gate deploy` refuses on")


def _runbook_names(base_dir: Path, rb_dir: str) -> list[str]:
    d = base_dir / rb_dir
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.md") if p.is_file() and p.name.lower() != "readme.md")


def cross_check_releases(cfg: ConfigBase, err: ErrFn, base_dir: Path | None = None) -> None:
    rel: Releases = cfg.releases
    checks = getattr(cfg, "checks", {})
    severities = cfg.incidents.severity_names
    for i, sev in enumerate(rel.gate.block_severities or ()):
        if sev not in severities:
            err(("releases", "gate", "block_severities", i), *missing("severity", sev, severities))
    for i, name in enumerate(rel.gate.slos or ()):
        if name not in cfg.slos:
            err(("releases", "gate", "slos", i), *missing("SLO", name, cfg.slos))
    envs = cfg.environments
    for svc, s in rel.services.items():
        base = ("releases", "services", svc)
        for i, env in enumerate(s.environments):
            if envs and env not in envs:
                err((*base, "environments", i), *missing("environment", env, envs))
        for key in ("ready", "checks"):
            for i, name in enumerate(getattr(s.verify, key)):
                if name not in checks:
                    err((*base, "verify", key, i), *missing("check", name, checks))
        for i, name in enumerate(s.verify.smoke):
            if name not in cfg.smoke:
                err((*base, "verify", "smoke", i), *missing("smoke suite", name, cfg.smoke))
        rb = s.rollback.runbook if s.rollback else None
        if rb is not None and base_dir is not None:
            names = _runbook_names(base_dir, cfg.runbooks.dir)
            if rb not in names:
                err((*base, "rollback", "runbook"), *missing("runbook", rb, names, f"runbooks in {cfg.runbooks.dir}/"))


def block_severities(rel: Releases, severity_names: list[str]) -> list[str]:
    """The severities that refuse deploys: as configured, else the two most severe."""
    return rel.gate.block_severities if rel.gate.block_severities is not None else severity_names[:2]
