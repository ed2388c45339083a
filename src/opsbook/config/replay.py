"""Config for event replay (``replay:``): where the events come from (a SQL query, JSONL files,
a command), where they go (an http resource + path), how they are signed, and how fast.

The stop rule (``stop_if: "error_ratio > 0.05 after 100"``) is parsed here by a tiny grammar
(no eval), so a malformed one is a config error naming its path. The sending lives in
opsbook/replay/, the run and its record in ops/replay.py and store/replay_runs.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from ..durations import PositiveDuration
from .references import ErrFn, missing
from .resources import Model
from .secrets import Secret

if TYPE_CHECKING:
    from .models import ConfigBase

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
HEADER = re.compile(r"^[A-Za-z0-9-]+$")
MIB = 1024 * 1024


def _field(v: str | None) -> str | None:
    if v is not None and not FIELD_PATH.match(v):
        raise ValueError(f"{v!r} is not a field path (letters, digits, _ and -, dotted: data.object.id)")
    return v


def _ident(v: str | None) -> str | None:
    if v is not None and not IDENT.match(v):
        raise ValueError(f"{v!r} is not a column name (letters, digits and _)")
    return v


class SqlSource(Model):
    resource: str = Field(description="a postgres or sqlite entry of resources:")
    query: str = Field(description="one SELECT; ${since} and ${until} are bound as parameters, never spliced")
    key: str = Field(description="the column holding the event's unique key (e.g. its id)")
    order: str | None = Field(default=None, description="the column the query orders by (e.g. received_at); "
                                                        "with it, resume skips ahead without re-reading")
    body: str | None = Field(default=None, description="the column holding the event body (JSON); default "
                                                       "the whole row as a JSON object")
    time_format: Literal["iso", "unix"] = Field(default="iso", description="how ${since}/${until} are bound "
                                                "on SQLite (PostgreSQL gets timestamps)")
    fetch: int = Field(default=500, ge=1, le=100_000, description="rows fetched per round trip")

    _k = field_validator("key", "order", "body")(_ident)

    @field_validator("query")
    @classmethod
    def _one_statement(cls, v: str) -> str:
        if ";" in v.strip().rstrip(";"):
            raise ValueError("the query is one statement (no ';' inside)")
        return v.strip().rstrip(";")


class JsonlSource(Model):
    path: str = Field(description="a .jsonl file, or a directory whose *.jsonl files are read in name order")
    key: str = Field(description="the field holding the event's unique key (dotted: data.id)")
    time_field: str | None = Field(default=None, description="a field with the event time (ISO 8601 or unix "
                                                             "seconds); --since/--until filter on it")
    max_line_bytes: int = Field(default=MIB, ge=64, le=64 * MIB, description="a longer line is a failed event")
    max_file_bytes: int = Field(default=64 * 1024 * MIB, ge=1, description="a larger file is refused")

    _k = field_validator("key", "time_field")(_field)


class CommandSource(Model):
    run: list[str] | str = Field(description="the command (argv list, or a string split like a shell would, "
                                             "no shell) printing one JSON event per line on stdout")
    key: str = Field(description="the field holding the event's unique key")
    time_field: str | None = None
    timeout: PositiveDuration = Field(default=3600.0, description="the command is killed after this long")
    max_line_bytes: int = Field(default=MIB, ge=64, le=64 * MIB)

    _k = field_validator("key", "time_field")(_field)


class Source(Model):
    sql: SqlSource | None = None
    jsonl: JsonlSource | None = None
    command: CommandSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        got = [k for k in ("sql", "jsonl", "command") if getattr(self, k) is not None]
        if len(got) != 1:
            raise ValueError(f"a source has exactly one of sql, jsonl, command (found {', '.join(got) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return "sql" if self.sql else "jsonl" if self.jsonl else "command"


class Target(Model):
    resource: str = Field(description="an http entry of resources: (base URL, headers, auth, verify)")
    path: str = Field(default="/", description="appended to the resource's URL")
    method: Literal["POST", "PUT"] = "POST"
    content_type: str = "application/json"


class StripeSignature(Model):
    secret: Secret = Field(description="the endpoint's signing secret (whsec_...), by reference")


class HmacSignature(Model):
    secret: Secret
    header: str = Field(default="X-Signature", description="the header carrying the signature")
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    format: str = Field(default="sha256={hex}", description="the header value; {hex}, {base64} and {t} are "
                                                            "replaced")
    over: Literal["body", "timestamp.body"] = Field(default="body", description="what is signed: the body, or "
                                                    "'{t}.{body}' (then send the time in timestamp_header)")
    timestamp_header: str | None = Field(default=None, description="a header carrying {t}, e.g. X-Timestamp")

    @field_validator("header", "timestamp_header")
    @classmethod
    def _header(cls, v: str | None) -> str | None:
        if v is not None and not HEADER.match(v):
            raise ValueError(f"{v!r} is not a header name")
        return v

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if "{hex}" not in v and "{base64}" not in v:
            raise ValueError("the format names {hex} or {base64}, e.g. 'sha256={hex}'")
        if re.sub(r"\{(hex|base64|t)\}", "", v).count("{") or re.sub(r"\{(hex|base64|t)\}", "", v).count("}"):
            raise ValueError("the format may name only {hex}, {base64} and {t}")
        return v


class Signature(Model):
    stripe: StripeSignature | None = None
    hmac: HmacSignature | None = None
    none: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Signature:
        got = [k for k in ("stripe", "hmac", "none") if getattr(self, k) is not None]
        if len(got) != 1:
            raise ValueError(f"a signature is one of stripe, hmac, none (found {', '.join(got) or 'none'})")
        return self


class Idempotency(Model):
    header: str = Field(default="Idempotency-Key", description="the header carrying the key")
    field: str | None = Field(default=None, description="the event field it comes from (default the event key)")

    _f = field_validator("field")(_field)


class Retries(Model):
    times: int = Field(default=5, ge=0, le=100, description="retries after the first attempt (429, 5xx, errors)")
    backoff: PositiveDuration = Field(default=0.5, description="the first wait; doubled each retry")
    max_backoff: PositiveDuration = Field(default=30.0, description="the longest wait between attempts")
    max_retry_after: PositiveDuration = Field(default=60.0, description="a Retry-After longer than this is capped")


@dataclass(frozen=True)
class StopRule:
    """``<metric> <op> <number> [after <n>]``: checked once ``n`` events have an outcome."""

    metric: str
    op: str
    threshold: float
    after: int
    text: str

    METRICS = ("error_ratio", "failed", "failed_in_a_row")

    def fires(self, failed: int, done: int, in_a_row: int) -> bool:
        if done < self.after or done == 0:
            return False
        value = {"error_ratio": failed / done, "failed": failed, "failed_in_a_row": in_a_row}[self.metric]
        return {">": value > self.threshold, ">=": value >= self.threshold}[self.op]


_STOP = re.compile(r"^\s*(?P<metric>[a-z_]+)\s*(?P<op>>=|>)\s*(?P<n>\d+(?:\.\d+)?)\s*(?:after\s+(?P<after>\d+))?\s*$")


def parse_stop_rule(text: str) -> StopRule:
    m = _STOP.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a stop rule; write it like 'error_ratio > 0.05 after 100'")
    if m["metric"] not in StopRule.METRICS:
        raise ValueError(f"unknown stop metric {m['metric']!r}; one of {', '.join(StopRule.METRICS)}")
    return StopRule(m["metric"], m["op"], float(m["n"]), int(m["after"] or 1), text.strip())


class Replay(Model):
    description: str = ""
    source: Source
    target: Target
    signature: Signature = Field(default_factory=lambda: Signature(none=True))
    idempotency: Idempotency | None = Field(default_factory=Idempotency)
    order_key: str | None = Field(default=None, description="events sharing this field's value are sent in "
                                                            "order, one in flight at a time")
    rate: float | None = Field(default=None, gt=0, le=1_000_000, description="events per second (none: as "
                                                                             "fast as concurrency allows)")
    concurrency: int = Field(default=16, ge=1, le=1024)
    retries: Retries = Field(default_factory=Retries)
    timeout: PositiveDuration = Field(default=10.0, description="each request's deadline")
    stop_if: str | None = Field(default=None, description="stop the run when this holds, e.g. "
                                                          "'error_ratio > 0.05 after 100'")

    _k = field_validator("order_key")(_field)

    @field_validator("stop_if")
    @classmethod
    def _stop(cls, v: str | None) -> str | None:
        if v is not None:
            parse_stop_rule(v)
        return v

    @property
    def stop_rule(self) -> StopRule | None:
        return parse_stop_rule(self.stop_if) if self.stop_if else None


def cross_check_replay(cfg: ConfigBase, err: ErrFn) -> None:
    """A replay's target is an http resource and its sql source a postgres or sqlite one."""
    for name, r in cfg.replay.items():
        wants: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = [(("target", "resource"), r.target.resource,
                                                                      ("http",))]
        if r.source.sql is not None:
            wants.append((("source", "sql", "resource"), r.source.sql.resource, ("postgres", "sqlite")))
        for path, res_name, kinds in wants:
            res = cfg.resources.get(res_name)
            if res is None:
                err(("replay", name, *path), *missing("resource", res_name, cfg.resources))
            elif res.kind not in kinds:
                err(("replay", name, *path), f"resource {res_name!r} is a {res.kind} resource; "
                                             f"this takes {' or '.join(kinds)}")
