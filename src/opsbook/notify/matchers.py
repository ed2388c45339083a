"""Label matchers: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

Regexes are anchored (full match), as in Alertmanager: ``service=~api`` does not match ``api2``.
A missing label is the empty string, so ``env!=prod`` matches alerts without ``env``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UsageError

Op = Literal["=", "!=", "=~", "!~"]
_PARSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = _PARSE.match(text)
        if not m:
            raise UsageError(f"{text!r} is not a matcher",
                             hint="write name=value, name!=value, name=~regex or name!~regex")
        name, op, value = m.group(1), m.group(2), m.group(3)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as e:
                raise UsageError(f"{text!r}: bad regular expression: {e}") from None
        return cls(name, op, value)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Matcher:
        return cls(str(d["name"]), d.get("op", "="), str(d["value"]))


def from_config(match: dict[str, str], match_re: dict[str, str]) -> list[Matcher]:
    return [Matcher(k, "=", v) for k, v in match.items()] + [Matcher(k, "=~", v) for k, v in match_re.items()]


def matches_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def coerce(matchers: Any) -> list[Matcher]:
    """What surfaces pass: Matchers, "name=value" strings, dicts {name, op, value} or {name: value}."""
    if isinstance(matchers, dict):
        return [Matcher(str(k), "=", str(v)) for k, v in matchers.items()]
    out: list[Matcher] = []
    for m in matchers:
        if isinstance(m, Matcher):
            out.append(m)
        elif isinstance(m, str):
            out.append(Matcher.parse(m))
        elif isinstance(m, dict):
            out.append(Matcher.from_dict(m))
        else:
            raise UsageError(f"{m!r} is not a matcher")
    return out
