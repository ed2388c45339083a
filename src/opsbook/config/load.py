"""opsbook.yaml -> ``Config``: read, pick the environment, interpolate, validate, cross-check.

Every problem becomes a ``ConfigError`` naming the YAML path and line:column; all problems of
one pass are reported together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ConfigErrors
from ..registry import Registry
from .backups import cross_check_backups
from .canaries import cross_check_canaries
from .env_contract import cross_check_env_contract
from .escalation import cross_check_escalation
from .incidents import cross_check_incidents
from .integrity import cross_check_integrity
from .logs import cross_check_logs
from .models import CheckCommon, CheckParams, ConfigBase, KindInfo, Plugins, SmokeSuite
from .notify import cross_check_notify
from .oncall import cross_check_oncall
from .references import cross_check_references, missing
from .releases import cross_check_releases
from .replay import cross_check_replay
from .resources import RESOURCES, Resource
from .rules import cross_check_rules
from .runbooks import cross_check_runbooks
from .secrets import register_secrets, reveal, show
from .yamlsource import Path as YPath
from .yamlsource import Source, dotted, load_yaml

T = TypeVar("T")
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
DEFAULT_FILE = "opsbook.yaml"


@dataclass(eq=False)
class Config:
    model: ConfigBase
    path: Path
    env: str | None
    vars: dict[str, str]
    source: Source
    # data derived from this config (each check's kind, rule plans, cached pages): kept on the
    # object so a reloaded config starts afresh; see ``derived``
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def derived(self, key: str, make: Callable[[], T]) -> T:
        """``make()``, computed once per loaded config and kept under ``key``."""
        try:
            value: T = self.cache[key]
        except KeyError:
            value = self.cache.setdefault(key, make())
        return value

    @property
    def checks(self) -> dict[str, CheckCommon]:
        return cast(dict[str, CheckCommon], self.model.checks)  # type: ignore[attr-defined]

    @property
    def resources(self) -> dict[str, Resource]:
        return self.model.resources

    @property
    def smoke(self) -> dict[str, SmokeSuite]:
        return self.model.smoke

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def store_url(self) -> str:
        url = reveal(self.model.store.url, "store.url")
        if url:
            return url
        return f"sqlite:///{self.base_dir / '.opsbook' / 'opsbook.db'}"

    def position(self, path: YPath) -> str:
        where = self.source.where(path)
        return f"{self.source.file}:{where[0]}:{where[1]}" if where else self.source.file


def _interpolate(data: Any, variables: dict[str, str], path: YPath, src: Source,
                 errors: list[ConfigError], lenient: bool = False) -> Any:
    if isinstance(data, dict):
        return {
            k: _interpolate(v, variables, (*path, k), src, errors,
                            lenient or (len(path) == 0 and k in ("smoke", "canaries", "releases", "replay")))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_interpolate(v, variables, (*path, i), src, errors, lenient) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$$" if lenient else "$"
        name = m.group(1)
        if name in variables:
            return variables[name]
        if lenient:  # smoke steps use values saved by earlier steps, canaries ${canary}, rollbacks ${version}
            return m.group(0)
        where = src.where(path)
        errors.append(ConfigError(
            f"${{{name}}} is not defined",
            path=dotted(path), line=where[0] if where else None,
            column=where[1] if where else None, file=src.file,
            hint="define it under vars: or environments.<env>.vars:",
        ))
        return m.group(0)

    return _VAR.sub(sub, data)


def _validation_errors(e: ValidationError, src: Source) -> list[ConfigError]:
    out = []
    for err in e.errors():
        loc: list[str | int] = []
        for part in err["loc"]:
            # pydantic inserts the discriminator value / union member names into the loc;
            # they are not YAML keys, so drop them
            if isinstance(part, str) and part.startswith("function-"):
                continue
            if len(loc) == 2 and loc[0] == "resources" and part in RESOURCES:
                continue
            loc.append(part)
        ypath = tuple(loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            msg = f"missing required key {loc[-1]!r}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif msg.startswith("Assertion failed, "):
            msg = msg[len("Assertion failed, "):]
        where = src.where(ypath, key=err["type"] == "extra_forbidden")
        out.append(ConfigError(
            msg, path=dotted(ypath), line=where[0] if where else None,
            column=where[1] if where else None, file=src.file,
        ))
    return out


def _cross_check(cfg: ConfigBase, kinds: Mapping[str, KindInfo], src: Source,
                 base_dir: Path | None = None, log_formats: Registry[Any] | None = None) -> list[ConfigError]:
    errors: list[ConfigError] = []

    def err(path: YPath, msg: str, hint: str = "") -> None:
        where = src.where(path)
        errors.append(ConfigError(msg, path=dotted(path), line=where[0] if where else None,
                                  column=where[1] if where else None, file=src.file, hint=hint))

    checks = cast(dict[str, CheckCommon], cfg.checks)  # type: ignore[attr-defined]
    for name, check in checks.items():
        kind, params = check.kind_and_params()
        if isinstance(params, CheckParams) and params.resource is not None:
            res = cfg.resources.get(params.resource)
            allowed = kinds[kind].resource_kinds
            if res is None:
                err(("checks", name, kind, "resource"), *missing("resource", params.resource, cfg.resources))
            elif res.kind not in allowed:
                err(("checks", name, kind, "resource"),
                    f"resource {params.resource!r} is a {res.kind} resource; a {kind} check takes "
                    f"{' or '.join(allowed) or 'no resource'}")
        for i, dep in enumerate(check.depends_on):
            if dep not in checks:
                err(("checks", name, "depends_on", i), *missing("check", dep, checks))
            elif dep == name:
                err(("checks", name, "depends_on", i), "a check cannot depend on itself")
    # cycles: depth-first search over depends_on
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        state[n] = 1
        for dep in checks[n].depends_on:
            if dep not in checks or dep == n:
                continue
            if state.get(dep) == 1:
                cycle = [*trail[trail.index(dep):], dep] if dep in trail else [n, dep]
                err(("checks", n, "depends_on"), "dependency cycle: " + " -> ".join(cycle))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[n] = 2

    for n in checks:
        if n not in state:
            visit(n, [n])
    # sections with cross-references of their own (config/<area>.py): one call each
    cross_check_backups(cfg, err)
    cross_check_integrity(cfg, err)
    cross_check_rules(cfg, err)
    cross_check_notify(cfg, err)
    cross_check_oncall(cfg, err)
    cross_check_references(cfg, err)
    cross_check_incidents(cfg, err, base_dir)
    cross_check_escalation(cfg, err)
    cross_check_runbooks(cfg, err, base_dir)
    cross_check_canaries(cfg, err)
    cross_check_releases(cfg, err, base_dir)
    cross_check_replay(cfg, err)
    cross_check_env_contract(cfg, err, base_dir)
    cross_check_logs(cfg, err)
    if log_formats is not None:  # the formats live to config's right: their names come with the plugins
        for name, source in cfg.logs.sources.items():
            if source.format not in log_formats:
                err(("logs", "sources", name, "format"),
                    f"unknown log format {source.format!r}{log_formats.suggestion(source.format)}",
                    f"one of: {', '.join(log_formats)}")
    for name, suite in cfg.smoke.items():
        if suite.resource is not None:
            res = cfg.resources.get(suite.resource)
            if res is None:
                err(("smoke", name, "resource"), *missing("resource", suite.resource, cfg.resources))
            elif res.kind != "http":
                err(("smoke", name, "resource"), f"resource {suite.resource!r} is not an http resource")
    return errors


def load_config(
    path: str | Path | None,
    plugins: Plugins,
    env: str | None = None,
    text: str | None = None,
) -> Config:
    p = Path(path or DEFAULT_FILE)
    if text is None:
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise ConfigError(
                f"config file {p} not found",
                hint="create one with `opsbook init`, or pass --config FILE",
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read config file {p}: {e}") from None
    src = load_yaml(text, str(p))
    raw = src.data
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping of keys (version:, checks:, ...)", file=str(p),
                          line=1, column=1)
    errors: list[ConfigError] = []
    envs = raw.get("environments") or {}
    if not isinstance(envs, dict):
        envs = {}
    chosen = env or raw.get("default_env") or (next(iter(envs)) if len(envs) == 1 else None)
    if chosen is not None and chosen not in envs:
        raise ConfigError(
            f"unknown environment {chosen!r}",
            path="environments",
            hint=f"defined: {', '.join(envs) or '(none)'}",
        )
    if env is None and chosen is None and len(envs) > 1:
        raise ConfigError(
            "several environments are defined and none is chosen",
            path="environments",
            hint=f"pass --env {' or --env '.join(envs)}, or set default_env:",
        )
    variables: dict[str, str] = {}
    base_vars = raw.get("vars") or {}
    if isinstance(base_vars, dict):
        variables.update({str(k): str(v) for k, v in base_vars.items()})
    if chosen is not None and isinstance(envs.get(chosen), dict):
        env_vars = envs[chosen].get("vars") or {}
        if isinstance(env_vars, dict):
            variables.update({str(k): str(v) for k, v in env_vars.items()})
    if chosen is not None:
        variables.setdefault("env", chosen)
    data = _interpolate(raw, variables, (), src, errors)
    model_cls = plugins.model
    try:
        model = model_cls.model_validate(data)
    except ValidationError as e:
        errors.extend(_validation_errors(e, src))
        raise ConfigErrors(errors) from None
    errors.extend(_cross_check(model, plugins.checks, src, p.resolve().parent, plugins.log_formats))
    if errors:
        raise ConfigErrors(errors)
    register_secrets(model)  # every secret is redacted from now on, not only once it is used
    return Config(model=model, path=p.resolve(), env=chosen, vars=variables, source=src)


def dump_redacted(model: BaseModel) -> Any:
    """The config as data with every secret shown as a description or ``***``, never a value."""
    return show(model)
