"""The assertion language: small, safe, parsed once when the config loads. No eval.

    status == 200                      status in [400, 401]
    json.status == 'ready'             json.checks.database == true
    duration < 500ms                   days_left > 14
    body contains 'ok'                 header.content-type matches 'json'
    len(json.items) >= 1               value > 0 and value < 10
    not (json.degraded == true)        json.items[0].id != null

Names resolve against a check's observations (a nested dict). Unit literals are
normalised: durations to milliseconds (``500ms``, ``2s``, ``5m``, ``26h``, ``7d``) because
duration observations are in milliseconds, sizes to bytes (``10MB``, ``1GiB``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..durations import _SIZE_UNITS
from ..errors import AssertionSyntaxError

_MISSING = object()


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?P<unit>ms|s|m|h|d|w|[kKmMgGtT]i?[bB]|[bB])?(?![A-Za-z0-9_])
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "true", "false", "null", "len"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "matches"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | op | name | end
    value: Any
    pos: int
    text: str


def _tokenize(expr: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise AssertionSyntaxError(f"unexpected character {expr[pos]!r}", expr, pos)
        text = m.group(0)
        if m.lastgroup == "ws":
            pass
        elif m.group("num") is not None:
            n = float(m.group("num"))
            unit = m.group("unit")
            if unit in _DURATION_MS:
                n *= _DURATION_MS[unit]
            elif unit:
                n *= _SIZE_UNITS[unit.lower()]
            out.append(_Tok("num", int(n) if n == int(n) else n, pos, text))
        elif m.group("str") is not None:
            raw = m.group("str")[1:-1]
            out.append(_Tok("str", re.sub(r"\\(.)", r"\1", raw), pos, text))
        elif m.group("op") is not None:
            out.append(_Tok("op", text, pos, text))
        else:
            out.append(_Tok("name", text, pos, text))
        pos = m.end()
    out.append(_Tok("end", None, len(expr), ""))
    return out


# AST nodes are tuples: ("lit", v) ("path", [parts]) ("len", node) ("list", [nodes])
# ("cmp", op, left, right) ("and", a, b) ("or", a, b) ("not", a)
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = _tokenize(expr)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, value: str) -> None:
        t = self.take()
        if t.value != value:
            raise AssertionSyntaxError(f"expected {value!r}, found {t.text or 'end'!r}", self.expr, t.pos)

    def is_word(self, word: str) -> bool:
        t = self.peek()
        return t.kind == "name" and t.value == word

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise AssertionSyntaxError("empty expression", self.expr, 0)
        node = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise AssertionSyntaxError(f"unexpected {t.text!r}", self.expr, t.pos)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.is_word("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.is_word("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.is_word("not"):
            self.take()
            return ("not", self.not_())
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        t = self.peek()
        op: str | None = None
        if (t.kind == "op" and t.value in _COMPARE) or (t.kind == "name" and t.value in ("in", "contains", "matches")):
            op = t.value
        elif t.kind == "name" and t.value == "not":
            nxt = self.toks[self.i + 1]
            if nxt.kind == "name" and nxt.value in ("in", "contains", "matches"):
                self.take()
                op = "not " + nxt.value
        if op is None:
            return left  # a bare value is truthy-tested
        self.take()
        right = self.operand()
        if op.endswith("matches"):
            if right[0] != "lit" or not isinstance(right[1], str):
                raise AssertionSyntaxError("matches takes a quoted regular expression", self.expr, t.pos)
            try:
                re.compile(right[1])
            except re.error as e:
                raise AssertionSyntaxError(f"bad regular expression: {e}", self.expr, t.pos) from None
        return ("cmp", op, left, right)

    def operand(self) -> Node:
        t = self.take()
        if t.kind in ("num", "str"):
            return ("lit", t.value, t.text)  # keep the text: "500ms" reads better than 500
        if t.kind == "op" and t.value == "(":
            node = self.or_()
            self.expect(")")
            return node
        if t.kind == "op" and t.value == "[":
            items: list[Node] = []
            if not (self.peek().kind == "op" and self.peek().value == "]"):
                items.append(self.operand())
                while self.peek().value == ",":
                    self.take()
                    items.append(self.operand())
            self.expect("]")
            return ("list", items)
        if t.kind == "name":
            if t.value in ("true", "false"):
                return ("lit", t.value == "true")
            if t.value == "null":
                return ("lit", None)
            if t.value == "len":
                self.expect("(")
                inner = self.operand()
                self.expect(")")
                return ("len", inner)
            if t.value in _KEYWORDS:
                raise AssertionSyntaxError(f"{t.value!r} cannot start a value", self.expr, t.pos)
            parts: list[str | int] = [t.value]
            while self.peek().kind == "op" and self.peek().value in (".", "["):
                sep = self.take()
                if sep.value == ".":
                    nt = self.take()
                    if nt.kind not in ("name", "num"):
                        raise AssertionSyntaxError("expected a name after '.'", self.expr, nt.pos)
                    parts.append(str(nt.text))
                else:
                    nt = self.take()
                    if (nt.kind == "num" and isinstance(nt.value, int)) or nt.kind == "str":
                        parts.append(nt.value)
                    else:
                        raise AssertionSyntaxError("expected an index or a quoted key", self.expr, nt.pos)
                    self.expect("]")
            return ("path", parts)
        raise AssertionSyntaxError(f"expected a value, found {t.text or 'end'!r}", self.expr, t.pos)


def _lookup(obs: Any, parts: list[str | int]) -> Any:
    cur = obs
    for i, p in enumerate(parts):
        if isinstance(cur, dict):
            if p in cur:
                cur = cur[p]
                continue
            if isinstance(p, str) and i > 0 and parts[i - 1] in ("header", "headers"):
                # HTTP header names are case-insensitive
                low = {str(k).lower(): v for k, v in cur.items()}
                if p.lower() in low:
                    cur = low[p.lower()]
                    continue
            if isinstance(p, str) and p.isdigit():
                return _MISSING
            return _MISSING
        if isinstance(cur, list):
            try:
                idx = int(p)
            except (TypeError, ValueError):
                return _MISSING
            if -len(cur) <= idx < len(cur):
                cur = cur[idx]
                continue
            return _MISSING
        return _MISSING
    return cur


def _source(node: Node) -> str:
    kind = node[0]
    if kind == "lit":
        if len(node) > 2:
            return str(node[2])
        return repr(node[1]) if isinstance(node[1], str) else _fmt(node[1])
    if kind == "path":
        return ".".join(str(p) for p in node[1])
    if kind == "len":
        return f"len({_source(node[1])})"
    if kind == "list":
        return "[" + ", ".join(_source(n) for n in node[1]) + "]"
    if kind == "cmp":
        return f"{_source(node[2])} {node[1]} {_source(node[3])}"
    if kind == "not":
        return f"not {_source(node[1])}"
    return f"({_source(node[1])} {kind} {_source(node[2])})"


def _fmt(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return str(v)


class _Missing(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def _value(node: Node, obs: Any) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        v = _lookup(obs, node[1])
        if v is _MISSING:
            raise _Missing(_source(node))
        return v
    if kind == "list":
        return [_value(n, obs) for n in node[1]]
    if kind == "len":
        v = _value(node[1], obs)
        try:
            return len(v)
        except TypeError:
            raise TypeError(f"len() of a {type(v).__name__}") from None
    return _truth(node, obs)


def _num(v: Any) -> Any:
    # Compare "200" with 200 the way a person would: numeric strings are numbers.
    if isinstance(v, str):
        try:
            return float(v) if "." in v or "e" in v.lower() else int(v)
        except ValueError:
            return v
    return v


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("==", "!="):
        eq = a == b or (not isinstance(a, bool) and not isinstance(b, bool) and _num(a) == _num(b)
                        and a is not None and b is not None)
        return eq if op == "==" else not eq
    if op in ("<", "<=", ">", ">="):
        x, y = _num(a), _num(b)
        if x is None or y is None:
            return False
        try:
            if op == "<":
                return bool(x < y)
            if op == "<=":
                return bool(x <= y)
            if op == ">":
                return bool(x > y)
            return bool(x >= y)
        except TypeError:
            raise TypeError(f"cannot order {type(a).__name__} and {type(b).__name__}") from None
    if op in ("in", "not in"):
        if isinstance(b, list):
            found = any(_compare("==", a, item) for item in b)
        elif isinstance(b, str | dict):
            found = str(a) in b if isinstance(b, str) else a in b
        else:
            raise TypeError(f"'in' needs a list or text on the right, not {type(b).__name__}")
        return found if op == "in" else not found
    if op in ("contains", "not contains"):
        if isinstance(a, list):
            found = any(_compare("==", item, b) for item in a)
        elif isinstance(a, dict):
            found = b in a
        else:
            found = str(b) in ("" if a is None else str(a))
        return found if op == "contains" else not found
    if op in ("matches", "not matches"):
        found = a is not None and re.search(b, str(a)) is not None
        return found if op == "matches" else not found
    raise AssertionError(op)  # pragma: no cover


def _truth(node: Node, obs: Any) -> bool:
    kind = node[0]
    if kind == "and":
        return _truth(node[1], obs) and _truth(node[2], obs)
    if kind == "or":
        return _truth(node[1], obs) or _truth(node[2], obs)
    if kind == "not":
        return not _truth(node[1], obs)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], obs), _value(node[3], obs))
    return bool(_value(node, obs))


@dataclass(frozen=True)
class Outcome:
    """One assertion's verdict: the expression, what was observed, what was expected."""

    expr: str
    ok: bool
    actual: Any
    expected: str
    severity: str = "fail"  # fail | warn: which status a false verdict gives
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "expr": self.expr,
            "ok": self.ok,
            "actual": self.actual,
            "expected": self.expected,
            "severity": self.severity,
            "message": self.message,
        }


class Assertion:
    """A parsed expression. ``Assertion.parse`` raises ``AssertionSyntaxError``."""

    __slots__ = ("expr", "severity", "tree")

    def __init__(self, expr: str, tree: Node, severity: str = "fail") -> None:
        self.expr = expr
        self.tree = tree
        self.severity = severity

    @classmethod
    def parse(cls, expr: str, severity: str = "fail") -> Assertion:
        if not isinstance(expr, str):
            raise AssertionSyntaxError("an assertion is a string such as \"status == 200\"", str(expr), 0)
        return cls(expr, _Parser(expr).parse(), severity)

    def __repr__(self) -> str:
        return f"Assertion({self.expr!r})"

    def names(self) -> set[str]:
        """Top-level observation names this expression reads (for docs and validation)."""
        return {path.split(".", 1)[0] for path in self.paths()}

    def paths(self) -> set[str]:
        """The observation paths this expression reads, dotted (``connections.waiting``; an index
        is a part like any other): a check kind can measure only what its assertions need."""
        out: set[str] = set()

        def walk(n: Node) -> None:
            if n[0] == "path":
                out.add(".".join(str(part) for part in n[1]))
            for child in n[1:]:
                if isinstance(child, tuple):
                    walk(child)
                elif isinstance(child, list):
                    for c in child:
                        if isinstance(c, tuple):
                            walk(c)

        walk(self.tree)
        return out

    def holds(self, observations: Any) -> bool:
        """True or false, nothing else: a missing name or a type clash is false (a log line without
        the field a filter names does not match). The fast path for filtering many records."""
        try:
            return _truth(self.tree, observations)
        except (_Missing, TypeError, re.error):
            return False

    def _subject(self) -> tuple[Node | None, str]:
        t = self.tree
        if t[0] == "cmp":
            return t[2], f"{t[1]} {_source(t[3])}"
        if t[0] in ("path", "len"):
            return t, "truthy"
        return None, _source(t)

    def evaluate(self, observations: dict[str, Any]) -> Outcome:
        subject, expected = self._subject()
        actual: Any = None
        try:
            if subject is not None:
                try:
                    actual = _value(subject, observations)
                except _Missing:
                    actual = None
            ok = _truth(self.tree, observations)
            what = _source(subject) if subject else "expression"
            msg = "" if ok else f"expected {what} {expected}, got {_fmt_actual(actual)}"
        except _Missing as m:
            ok, msg = False, f"{m.path} is missing from the observations"
        except (TypeError, re.error) as e:
            ok, msg = False, str(e)
        if subject is not None and not ok and not msg.endswith("observations"):
            try:
                _value(subject, observations)
            except _Missing as m:
                msg = f"{m.path} is missing from the observations"
            except TypeError:
                pass
        return Outcome(self.expr, ok, _clip(actual), expected, self.severity, msg)


def _fmt_actual(v: Any) -> str:
    if isinstance(v, str):
        return repr(v if len(v) <= 80 else v[:77] + "...")
    return _fmt(v) if v is None or isinstance(v, bool) else _short(v)


def _short(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _clip(v: Any) -> Any:
    """Keep stored actual values small: long text and big structures are cut."""
    if isinstance(v, str) and len(v) > 500:
        return v[:500] + "..."
    if isinstance(v, list | dict) and len(str(v)) > 500:
        return _short(v)
    return v


def resolve(name: str, observations: Any) -> Any:
    """The value a name such as ``json.items[0].p99`` reads, resolved as assertions resolve names;
    ``KeyError`` when it is not there. (The canary gate's http_json provider reads numbers this way.)"""
    tree = _Parser(name).parse()
    if tree[0] != "path":
        raise AssertionSyntaxError("expected a name such as data.error_rate or items[0].p99", name, 0)
    value = _lookup(observations, tree[1])
    if value is _MISSING:
        raise KeyError(name)
    return value
