"""Judge environments' values against a contract. Every message names the variable and the
rule, never the value; equality across environments is decided on HMAC-SHA256 fingerprints
keyed with a random per-run key (``Fingerprints``), so two equal secrets are found without
either being compared in the clear, printed, stored or sent."""

from __future__ import annotations

import hmac
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config.env_contract import AppContract, Variable
from ..config.secrets import redactor
from ..durations import parse_duration

BOOLS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})
_KV = re.compile(r"(\w+)\s*=\s*('[^']*'|\S+)")


class Fingerprints:
    """HMAC-SHA256 of values under a key made for this run and never kept: a fingerprint says
    whether two values are equal and nothing else, and means nothing after the process ends."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def of(self, value: str) -> bytes:
        return hmac.new(self._key, value.encode("utf-8", "surrogatepass"), sha256).digest()


def entropy_bits(value: str) -> float:
    """Shannon entropy of the characters times the length: a rough upper bound of the bits."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) * n


def _url(value: str, var: Variable) -> str | None:
    try:
        u = urlsplit(value)
        _ = u.port  # raises on a bad port
    except ValueError:
        return "not a valid URL"
    if not u.scheme or not u.netloc:
        return "not a URL (needs scheme://host)"
    if var.schemes and u.scheme not in var.schemes:
        return f"a URL whose scheme is not one of {', '.join(var.schemes)}"
    return None


def _dsn(value: str) -> str | None:
    if "://" not in value:
        kv = {m.group(1) for m in _KV.finditer(value)}
        if "host" in kv or "dbname" in kv:
            return None
        return "not a PostgreSQL DSN (postgresql://... or host=... dbname=...)"
    try:
        u = urlsplit(value)
        _ = u.port
    except ValueError:
        return "not a valid PostgreSQL URL"
    if u.scheme.split("+")[0] not in ("postgres", "postgresql"):
        return "not a PostgreSQL URL (scheme postgresql:// or postgres://)"
    if not (u.hostname or "host" in parse_qs(u.query)):
        return "a PostgreSQL URL without a host"
    if not u.path.strip("/"):
        return "a PostgreSQL URL without a database name"
    return None


def type_problem(var: Variable, value: str) -> str | None:
    """Why ``value`` is not a valid ``var.type`` (a message without the value), or None."""
    t = var.type
    if t == "url":
        return _url(value, var)
    if t == "postgres_dsn":
        return _dsn(value)
    if t == "int":
        try:
            n = int(value.strip())
        except ValueError:
            return "not an integer"
        if var.min is not None and n < var.min:
            return f"below the minimum {var.min}"
        if var.max is not None and n > var.max:
            return f"above the maximum {var.max}"
        return None
    if t == "duration":
        try:
            parse_duration(value)
        except ValueError:
            return "not a duration (15s, 5m, 900)"
        return None
    if t == "bool":
        return None if value.strip().lower() in BOOLS else "not a boolean (true/false, 1/0, yes/no, on/off)"
    if t == "enum":
        return None if value in var.values else f"not one of: {', '.join(var.values)}"
    if t == "regex":
        assert var.pattern is not None
        return None if re.fullmatch(var.pattern, value) else f"does not match the pattern {var.pattern}"
    if t == "secret":
        if len(value) < var.min_length:
            return f"shorter than the minimum {var.min_length} characters"
        if var.min_entropy and entropy_bits(value) < var.min_entropy:
            return f"fewer than {var.min_entropy:g} bits of entropy"
    return None


@dataclass(frozen=True)
class Violation:
    app: str
    env: str  # one environment; "a,b" (or more) for a rule between environments
    variable: str
    kind: str  # missing | invalid | forbidden | equal | different
    message: str  # never the value

    def to_dict(self) -> dict[str, str]:
        return {"app": self.app, "env": self.env, "variable": self.variable, "kind": self.kind,
                "message": self.message}


@dataclass
class Cell:
    """One variable in one environment: present | missing | absent (not required) | hidden
    (present, the source does not reveal values) | invalid | forbidden; ``equal_to``: the other
    environments holding the same value."""

    state: str
    equal_to: list[str] = field(default_factory=list)

    def label(self) -> str:
        if self.equal_to and self.state == "present":
            return "equal-to-" + ",".join(self.equal_to)
        return self.state + (f" (equal-to-{','.join(self.equal_to)})" if self.equal_to else "")


@dataclass
class Report:
    app: str
    envs: list[str]
    variables: list[str]
    cells: dict[tuple[str, str], Cell]  # (variable, env)
    violations: list[Violation]
    # per variable: envs pair -> same | different | missing (for diff)
    compare: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app, "environments": self.envs,
            "variables": {v: {e: self.cells[(v, e)].label() for e in self.envs} for v in self.variables},
            "violations": [x.to_dict() for x in self.violations],
        }


def judge(app_name: str, app: AppContract, values: Mapping[str, Mapping[str, str | None]],
          fps: Fingerprints | None = None, relations: bool = True) -> Report:
    """Every variable of ``app`` in each environment of ``values``; with ``relations``, the
    differs_between / same_in rules between the environments given (the others are skipped)."""
    fps = fps or Fingerprints()
    envs = list(values)
    cells: dict[tuple[str, str], Cell] = {}
    out: list[Violation] = []
    prints: dict[tuple[str, str], bytes] = {}
    for vname, var in app.variables.items():
        forbidden = {*var.forbidden, *app.forbidden}
        for env in envs:
            data = values[env]
            present = vname in data
            value = data.get(vname)
            if not present or value == "":
                state = "missing" if var.required(env) else "absent"
                if state == "missing":
                    why = "is not set" if not present else "is set but empty"
                    out.append(Violation(app_name, env, vname, "missing", f"{vname} {why} in {env}"))
                cells[(vname, env)] = Cell(state)
                continue
            if value is None:
                cells[(vname, env)] = Cell("hidden")
                continue
            if var.type == "secret":
                redactor.add(value)  # defence in depth: were it ever to reach an output, it shows as ***
            prints[(vname, env)] = fps.of(value)
            if value in forbidden:
                out.append(Violation(app_name, env, vname, "forbidden",
                                     f"{vname} in {env} holds a forbidden value (see forbidden:)"))
                cells[(vname, env)] = Cell("forbidden")
                continue
            problem = type_problem(var, value)
            if problem:
                out.append(Violation(app_name, env, vname, "invalid", f"{vname} in {env}: {problem}"))
                cells[(vname, env)] = Cell("invalid")
            else:
                cells[(vname, env)] = Cell("present")
        by_print: dict[bytes, list[str]] = {}
        for env in envs:
            fp = prints.get((vname, env))
            if fp is not None:
                by_print.setdefault(fp, []).append(env)
        for group in by_print.values():
            if len(group) > 1:
                for env in group:
                    cells[(vname, env)].equal_to = [e for e in group if e != env]
        if not relations:
            continue
        for a, b in var.pairs():
            fa, fb = prints.get((vname, a)), prints.get((vname, b))
            if fa is not None and fa == fb:
                out.append(Violation(app_name, f"{a},{b}", vname, "equal",
                                     f"{vname} is equal in {a} and {b}; differs_between requires different values"))
        same = [e for e in var.same_in if (vname, e) in prints]
        if len({prints[(vname, e)] for e in same}) > 1:
            out.append(Violation(app_name, ",".join(same), vname, "different",
                                 f"{vname} differs between {', '.join(same)}; same_in requires one value"))
    return Report(app_name, envs, list(app.variables), cells, out)


def diff(report: Report, left: str, right: str) -> dict[str, str]:
    """Per variable: same | different | missing-in-LEFT | missing-in-RIGHT | missing | unknown."""
    res: dict[str, str] = {}
    for v in report.variables:
        lc, rc = report.cells[(v, left)], report.cells[(v, right)]
        lgone, rgone = lc.state in ("missing", "absent"), rc.state in ("missing", "absent")
        if lgone and rgone:
            res[v] = "missing"
        elif lgone:
            res[v] = f"missing-in-{left}"
        elif rgone:
            res[v] = f"missing-in-{right}"
        elif "hidden" in (lc.state, rc.state):
            res[v] = "unknown"
        else:
            res[v] = "same" if right in lc.equal_to else "different"
    return res
