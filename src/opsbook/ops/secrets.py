"""The secret inventory (``secrets:``): where the config references each secret, its last
rotation per environment, when the next is due; secrets referenced but not declared; inline
secrets. Rotations are recorded by `opsbook secrets rotated` and by a successful run of the
secret's rotation runbook (``after_runbook``, called from ops/runbook_walk.py). Never a value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config.references import missing
from ..config.secrets import _refs, inline_secrets
from ..config.yamlsource import dotted
from ..errors import UsageError
from ..store import secret_rotations as rows

if TYPE_CHECKING:
    from ..config.env_contract import SecretEntry
    from ..config.models import ConfigBase
    from ..store import Store


@dataclass
class Status:
    name: str
    env: str
    entry: SecretEntry
    last: rows.RotationRow | None
    due: datetime | None
    overdue: bool
    references: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "env": self.env, "owner": self.entry.owner,
                "description": self.entry.description, "rotate_every": self.entry.rotate_every,
                "runbook": self.entry.runbook, "references": self.references,
                "last_rotation": self.last.to_dict() if self.last else None,
                "due": self.due.isoformat() if self.due else None, "overdue": self.overdue}


def references(cfg: ConfigBase) -> dict[str, list[str]]:
    """Environment variable name -> the config paths that read it ({env: NAME} refs, contracts)."""
    out: dict[str, list[str]] = {}
    for path, ref in _refs(cfg):
        if ref.env is not None:
            out.setdefault(ref.env, []).append(dotted(path))
    for app, contract in cfg.env_contract.items():
        for var in contract.variables:
            out.setdefault(var, []).append(f"env_contract.{app}.variables.{var}")
    return out


def statuses(cfg: ConfigBase, store: Store, now: datetime, name: str | None = None) -> list[Status]:
    inv = cfg.secrets
    names = [name] if name is not None else list(inv)
    with store.read() as tx:
        latest = rows.latest(tx, names)
    refs = references(cfg)
    out = []
    for n in names:
        entry = inv[n]
        for env in entry.environments or [""]:
            last = latest.get((n, env))
            due, overdue = entry.due(last.at if last else None, now)
            out.append(Status(n, env, entry, last, due, overdue, refs.get(n, [])))
    return out


@dataclass
class Audit:
    statuses: list[Status]
    undeclared: dict[str, list[str]]  # referenced but not in secrets:
    inline: list[tuple[str, str]]  # (path, message)

    @property
    def problems(self) -> int:
        return sum(s.overdue for s in self.statuses) + len(self.undeclared) + len(self.inline)

    def to_dict(self) -> dict[str, Any]:
        return {"secrets": [s.to_dict() for s in self.statuses],
                "undeclared": [{"name": k, "references": v} for k, v in sorted(self.undeclared.items())],
                "inline": [{"path": p, "message": m} for p, m in self.inline],
                "problems": self.problems}


def audit(cfg: ConfigBase, store: Store, now: datetime) -> Audit:
    refs = {n: [p for p in paths if not p.startswith("env_contract.")] for n, paths in references(cfg).items()}
    undeclared = {n: p for n, p in refs.items() if p and n not in cfg.secrets}
    inline = [(dotted(path), msg) for path, msg in inline_secrets(cfg)]
    return Audit(statuses(cfg, store, now), undeclared, inline)


def rotated(cfg: ConfigBase, store: Store, name: str, env: str | None, by: str, note: str, now: datetime,
            via: str = "cli", run_id: int | None = None) -> rows.RotationRow:
    """Record a rotation of ``name`` in ``env`` (checked against the inventory)."""
    if name not in cfg.secrets:
        message, hint = missing("secret", name, cfg.secrets, "secrets (secrets:)")
        raise UsageError(message, hint=hint)
    entry = cfg.secrets[name]
    if entry.environments:
        if env is None:
            raise UsageError(f"secret {name} exists in {', '.join(entry.environments)}: say which",
                             hint="pass --env NAME")
        if env not in entry.environments:
            message, hint = missing("environment", env, entry.environments, f"environments of {name}")
            raise UsageError(message, hint=hint)
    with store.transaction() as tx:
        return rows.record(tx, name, (env or "") if entry.environments else "", now, by, note, via, run_id)


def after_runbook(cfg: ConfigBase, store: Store, runbook: str, env: str | None, operator: str, run_id: int,
                  now: datetime) -> list[rows.RotationRow]:
    """A run of ``runbook`` succeeded: record a rotation of every secret it rotates (in the run's
    environment, when the secret lists it)."""
    out = []
    for name, entry in cfg.secrets.items():
        if entry.runbook != runbook:
            continue
        if entry.environments and env not in entry.environments:
            continue
        with store.transaction() as tx:
            out.append(rows.record(tx, name, (env or "") if entry.environments else "", now, operator,
                                   f"runbook {runbook} run {run_id}", "runbook", run_id))
    return out
