"""Config for log queries (``logs:``): where each log is read from, in which format, which of its
fields mean what; and named, parameterised queries that runbooks, checks and incidents call by
name. The reading and querying live in opsbook/logs/ (docs/logs.md)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from ..durations import Duration, PositiveDuration, parse_size
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase
    from .references import ErrFn

# names every source understands, whatever its own field names are (fields: maps them)
CANONICAL_FIELDS = ("ts", "level", "msg", "request_id", "duration_ms", "status", "path", "method", "error_type")
PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class LogSource(Model):
    path: str | list[str] | None = Field(
        default=None, description="a file or glob (several: a list); rotated and .gz files it matches are "
                                  "read oldest first, relative to the config's directory")
    command: str | list[str] | None = Field(
        default=None, description="a command whose stdout is the log (a shell line, or an argv list)")
    stdin: bool = Field(default=False, description="read the log from standard input")
    timeout: PositiveDuration = Field(default=60.0, description="how long a command may run")
    format: str = Field(default="json", description="json, logfmt or regex (docs/logs/<format>.md)")
    pattern: str | None = Field(default=None, description="the regex format's expression, with named groups")
    fields: dict[str, str] = Field(
        default_factory=dict, description="canonical name (ts, level, msg, request_id, duration_ms, status, "
                                          "path...) -> this source's field name (dots reach into objects)")

    @model_validator(mode="after")
    def _one_origin(self) -> LogSource:
        origins = sum((self.path is not None, self.command is not None, self.stdin))
        if origins != 1:
            raise ValueError("a log source has exactly one of path, command or stdin: true")
        if self.format == "regex":
            if not self.pattern:
                raise ValueError("the regex format needs pattern: (a regular expression with named groups)")
            try:
                compiled = re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern is not a regular expression: {e}") from None
            if not compiled.groupindex:
                raise ValueError("pattern needs named groups, e.g. (?P<level>\\w+)")
        return self


class LogQuery(Model):
    description: str = ""
    source: str | list[str] = Field(description="the source(s) under logs.sources to read")
    since: PositiveDuration = Field(default=3600.0, description="how far back to look (e.g. 15m, 24h)")
    until: Duration | None = Field(default=None, description="stop this long before now (default: now)")
    where: str | None = Field(default=None, description="a filter in the assertion language; {param} is "
                                                        "replaced by the parameter's value")
    count_by: str | None = Field(default=None, description="count matching lines by this field")
    top: int = Field(default=10, ge=1, le=10_000, description="how many count_by values to show")
    percentiles: str | None = Field(default=None, description="p50, p95, p99 of this numeric field")
    by: str | None = Field(default=None, description="group percentiles by this field")
    slower_than: PositiveDuration | None = Field(default=None, description="lines whose duration_ms is above it")
    request_id: str | None = Field(default=None, description="every line of this request id, in time order")
    sample: int | None = Field(default=None, ge=1, le=10_000, description="a uniform random sample of N lines")
    params: dict[str, str] = Field(default_factory=dict, description="parameter names and default values "
                                                                      "(override with -p name=value)")

    @field_validator("source")
    @classmethod
    def _sources(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError("name at least one source")
        return v

    def sources(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)


class Logs(Model):
    sources: dict[str, LogSource] = Field(default_factory=dict)
    queries: dict[str, LogQuery] = Field(default_factory=dict)
    max_line: int = Field(default=1_048_576, ge=1024, description="longer lines are counted unparsable, "
                                                                   "not read (bytes, or 1MiB)")

    @field_validator("max_line", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return parse_size(v) if isinstance(v, str) else v


def cross_check_logs(cfg: ConfigBase, err: ErrFn) -> None:
    from .references import missing

    logs: Logs = cfg.logs
    for name, q in logs.queries.items():
        for i, src in enumerate(q.sources()):
            if src not in logs.sources:
                path: tuple[str | int, ...] = ("logs", "queries", name, "source")
                err(path if isinstance(q.source, str) else (*path, i), *missing("log source", src, logs.sources))
        texts = [t for t in (q.where, q.request_id) if t]
        for p in sorted({m.group(1) for t in texts for m in PARAM.finditer(t)} - set(q.params)):
            err(("logs", "queries", name), f"{{{p}}} is used but not declared under params:",
                f"add params: {{{p}: DEFAULT}}")
    for check_name, check in getattr(cfg, "checks", {}).items():
        kind, params = check.kind_and_params()
        if kind != "logs":
            continue
        named = getattr(params, "query", None)
        if named is not None and named not in logs.queries:
            err(("checks", check_name, "logs", "query"), *missing("log query", named, logs.queries))
        inline = getattr(params, "source", None)
        for s in [inline] if isinstance(inline, str) else (inline or []):
            if s not in logs.sources:
                err(("checks", check_name, "logs", "source"), *missing("log source", s, logs.sources))
