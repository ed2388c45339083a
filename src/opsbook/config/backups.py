"""``backups:`` and ``drills:``: what to dump, where to put it, how long to keep it, how to prove it restores."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..durations import PositiveDuration
from .fields import Expect, cron
from .references import missing
from .resources import Model, Secret

if TYPE_CHECKING:  # models.py imports this module for its section lines
    from .models import ConfigBase


ErrFn = Callable[[tuple[str | int, ...], str, str], None]


class ZstdOptions(Model):
    # measured on a 1.2 GB database: level 1 is faster than 3 and still smaller than gzip -6
    level: int = Field(default=1, ge=1, le=19, description="zstd level (1-19)")
    threads: int = Field(default=2, ge=1, le=64, description="zstd worker threads (-T)")


class Encrypt(Model):
    age_recipients: list[str] = Field(default_factory=list, description="age public keys (age1...)")
    age_recipients_file: str | None = Field(default=None, description="a file of recipients, one a line")
    identity: Secret | None = Field(
        default=None, description="age identity used by `backup verify` to prove decryptability"
    )

    @field_validator("age_recipients")
    @classmethod
    def _recipients(cls, v: list[str]) -> list[str]:
        for r in v:
            if not r.startswith(("age1", "ssh-ed25519 ", "ssh-rsa ")):
                raise ValueError(f"{r[:12]!r}... is not an age recipient (age1...) or ssh public key")
        return v

    @model_validator(mode="after")
    def _some(self) -> Encrypt:
        if not self.age_recipients and not self.age_recipients_file:
            raise ValueError("encrypt: needs age_recipients: or age_recipients_file:")
        return self


class Keep(Model):
    last: int = Field(default=0, ge=0, description="the N newest backups")
    daily: int = Field(default=0, ge=0, description="the newest backup of each of the N latest days with one")
    weekly: int = Field(default=0, ge=0, description="the newest of each of the N latest ISO weeks with one")
    monthly: int = Field(default=0, ge=0, description="the newest of each of the N latest months with one")


class Backup(Model):
    description: str = ""
    source: str = Field(description="a postgres or sqlite resource")
    to: str | None = Field(default=None, description="an s3 resource, or a local directory path")
    path: str | None = Field(default=None, description="a local directory (relative to the config file)")
    prefix: str = Field(default="", description="key prefix inside the destination")
    format: Literal["custom", "directory"] = Field(
        default="custom", description="pg_dump format: custom (one streamed object) or directory (parallel dump)")
    jobs: int | None = Field(default=None, ge=1, le=64, description="pg_dump -j (format: directory only; default 2)")
    schemas: list[str] = Field(default_factory=list, description="pg_dump -n patterns")
    exclude_schemas: list[str] = Field(default_factory=list, description="pg_dump -N patterns")
    tables: list[str] = Field(default_factory=list, description="pg_dump -t patterns")
    exclude_tables: list[str] = Field(default_factory=list, description="pg_dump -T patterns")
    exclude_table_data: list[str] = Field(default_factory=list, description="pg_dump --exclude-table-data")
    compress: Literal["zstd"] | ZstdOptions = Field(default_factory=ZstdOptions)
    encrypt: Encrypt | None = None
    bin_dir: str | None = Field(default=None, description="directory holding pg_dump/pg_restore")
    pg_dump: str | None = Field(default=None, description="the pg_dump binary to run")
    schedule: str | None = None
    keep: Keep | None = None
    timeout: PositiveDuration | None = Field(default=None, description="give up (and clean up) after this long")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return cron(v)

    @model_validator(mode="after")
    def _dest(self) -> Backup:
        if (self.to is None) == (self.path is None):
            raise ValueError("a backup has exactly one destination: to: (an s3 resource or a path) or path:")
        if self.jobs is not None and self.format != "directory":
            raise ValueError("jobs: (parallel pg_dump) needs format: directory")
        return self

    @property
    def dump_jobs(self) -> int:
        return self.jobs or 2

    @property
    def zstd(self) -> ZstdOptions:
        return self.compress if isinstance(self.compress, ZstdOptions) else ZstdOptions()


class Freshness(Model):
    table: str
    column: str
    max_age: PositiveDuration


class SqlCheck(Model):
    name: str
    query: str
    expect: list[Expect] = Field(min_length=1)

    @field_validator("expect", mode="before")
    @classmethod
    def _one(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class DrillVerify(Model):
    row_counts: Literal["all"] | list[str] = "all"
    freshness: Freshness | None = None
    sql: list[SqlCheck] = Field(default_factory=list)
    integrity: str | None = Field(default=None, description="an integrity suite run against the restored DB")


class DrillApp(Model):
    command: str = Field(description="started with the restored database's DSN in its environment")
    env_var: str = "DATABASE_URL"
    ready: list[str] = Field(default_factory=list, description="checks that must pass against it")
    smoke: str | None = Field(default=None, description="a smoke suite to run against it")
    base_url: str | None = Field(default=None, description="the smoke suite's base URL")
    timeout: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _something(self) -> DrillApp:
        if not self.ready and not self.smoke:
            raise ValueError("app: needs ready: [check names] or smoke: SUITE")
        return self


class DrillTarget(Model):
    resource: str | None = Field(default=None, description="a postgres resource (admin DSN)")
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DrillTarget:
        if sum(x is not None for x in (self.resource, self.env, self.file)) != 1:
            raise ValueError("target: is {env: VAR}, {file: PATH} or {resource: NAME}")
        return self


class DrillCluster(Model):
    bin_dir: str | None = Field(
        default=None, description="directory holding initdb/pg_ctl (default: pg_config --bindir, "
        "else the newest /usr/lib/postgresql/*/bin)")
    port: int = Field(default=0, ge=0, le=65535, description="TCP port on 127.0.0.1; 0 = a free port")


class Drill(Model):
    description: str = ""
    backup: str
    target: DrillTarget | None = Field(default=None, description="where scratch databases are created")
    cluster: DrillCluster | None = Field(
        default=None, description="restore into a throwaway cluster (initdb + pg_ctl) instead of target:")
    identity: Secret | None = Field(default=None, description="age identity to decrypt with")
    jobs: int = Field(default=2, ge=1, le=64, description="pg_restore -j")
    verify: DrillVerify = Field(default_factory=DrillVerify)
    app: DrillApp | None = None
    rto_target: PositiveDuration | None = None
    report_dir: str = "docs/drill-logs"
    schedule: str | None = None
    bin_dir: str | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return cron(v)

    @model_validator(mode="after")
    def _one_target(self) -> Drill:
        if self.target is not None and self.cluster is not None:
            raise ValueError("a drill restores into target: or into a throwaway cluster:, not both")
        return self


def _looks_like_path(s: str) -> bool:
    return "/" in s or s.startswith((".", "~"))


def cross_check_backups(cfg: ConfigBase, err: ErrFn) -> None:
    backups: dict[str, Backup] = getattr(cfg, "backups", {})
    drills: dict[str, Drill] = getattr(cfg, "drills", {})
    for name, b in backups.items():
        src = cfg.resources.get(b.source)
        if src is None:
            err(("backups", name, "source"), *missing("resource", b.source, cfg.resources))
        elif src.kind not in ("postgres", "sqlite"):
            err(("backups", name, "source"), f"resource {b.source!r} is a {src.kind} resource; "
                "a backup source is postgres or sqlite", "")
        elif src.kind == "sqlite" and b.format != "custom":
            err(("backups", name, "format"), "format: directory is pg_dump's; a SQLite backup is one file",
                "remove format: (and jobs:)")
        if b.to is not None and not _looks_like_path(b.to):
            dest = cfg.resources.get(b.to)
            if dest is None:
                msg, hint = missing("resource", b.to, cfg.resources)
                err(("backups", name, "to"), msg,
                    f"name an s3 resource, or write a local path such as ./backups; {hint}")
            elif dest.kind != "s3":
                err(("backups", name, "to"), f"resource {b.to!r} is a {dest.kind} resource, not s3", "")
    for name, d in drills.items():
        if d.backup not in backups:
            err(("drills", name, "backup"), *missing("backup", d.backup, backups))
            continue
        src = cfg.resources.get(backups[d.backup].source)
        if src is not None and src.kind == "postgres" and d.target is None and d.cluster is None:
            err(("drills", name, "target"), "a drill of a postgres backup needs target: or cluster:",
                "target: {env: DRILL_DATABASE_URL} (an admin DSN where scratch databases are created), "
                "or cluster: {} (a throwaway local cluster)")
        if d.target is not None and d.target.resource is not None:
            t = cfg.resources.get(d.target.resource)
            if t is None or t.kind != "postgres":
                err(("drills", name, "target", "resource"),
                    f"{d.target.resource!r} is not a postgres resource", "")
        if d.verify.integrity is not None and d.verify.integrity not in getattr(cfg, "integrity", {}):
            err(("drills", name, "verify", "integrity"),
                *missing("integrity suite", d.verify.integrity, getattr(cfg, "integrity", {})))
        if d.app is not None:
            checks: dict[str, Any] = getattr(cfg, "checks", {})
            for i, c in enumerate(d.app.ready):
                if c not in checks:
                    err(("drills", name, "app", "ready", i), *missing("check", c, checks))
            if d.app.smoke is not None and d.app.smoke not in cfg.smoke:
                err(("drills", name, "app", "smoke"), *missing("smoke suite", d.app.smoke, cfg.smoke))
