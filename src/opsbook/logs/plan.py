"""A query (``LogQuery``, from the config or the command line) -> one ``Plan`` per source: what the
scanner of that source does with each line. A plan is plain data (it crosses to worker
processes); the where filter travels as text and is parsed once per worker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..config.assertions import Assertion
from ..config.logs import PARAM, LogQuery, LogSource
from ..errors import AssertionSyntaxError, UsageError

KEEP_LINES = 20  # matching lines a query keeps by default (the first ones)
MAX_KEEP = 10_000  # lines of one request id kept at most
_SAFE_LITERAL = re.compile(r"^[\x20-\x7e]+$")


@dataclass(frozen=True)
class Plan:
    source: str
    fmt: str
    pattern: str | None
    fields: dict[str, str]
    where: str | None
    literals: tuple[bytes, ...]  # every one must be in a line for it to be parsed
    since: float | None
    until: float | None
    count_by: str | None = None
    pct_field: str | None = None
    by: str | None = None
    slower_than_ms: float | None = None
    request_id: str | None = None
    sample: int = 0
    keep: int = KEEP_LINES
    max_line: int = 1_048_576
    exact_total: bool = False  # count every line in the window (no prefilter): ratio checks
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_ts(self) -> bool:
        return self.since is not None or self.until is not None or self.keep > 0 or self.sample > 0


def substitute(text: str | None, params: dict[str, str]) -> str | None:
    """``{name}`` -> the parameter's value, quotes and backslashes escaped so that a value put
    between quotes in a where filter stays one string."""
    if text is None:
        return None

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise UsageError(f"query parameter {{{name}}} has no value", hint=f"pass -p {name}=VALUE")
        return params[name].replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')

    return PARAM.sub(sub, text)


def bind(query: LogQuery, given: dict[str, str]) -> LogQuery:
    """The query with its parameters filled in (given values over the declared defaults)."""
    unknown = sorted(set(given) - set(query.params))
    if unknown:
        raise UsageError(f"unknown query parameter(s): {', '.join(unknown)}",
                         hint=f"this query takes: {', '.join(query.params) or '(none)'}")
    values = {**query.params, **given}
    where = substitute(query.where, values)
    rid = query.request_id
    if rid is not None:
        rid = PARAM.sub(lambda m: values.get(m.group(1), m.group(0)), rid)
    return query.model_copy(update={"where": where, "request_id": rid})


def parse_where(where: str | None) -> Assertion | None:
    if not where:
        return None
    try:
        return Assertion.parse(where)
    except AssertionSyntaxError as e:
        raise UsageError(f"--where: {e}", hint="the assertion language: level == 'error' and status >= 500") \
            from None


def literals(tree: tuple[Any, ...]) -> list[str]:
    """Strings a line must contain for the filter to hold: those compared with == or contains in
    the and-chain at the top (an or, a not, a number gives none: a line could match without)."""
    kind = tree[0]
    if kind == "and":
        return literals(tree[1]) + literals(tree[2])
    if kind == "cmp" and tree[1] in ("==", "contains"):
        left, right = tree[2], tree[3]
        for a, b in ((left, right), (right, left)) if tree[1] == "==" else ((left, right),):
            if a[0] == "path" and b[0] == "lit" and isinstance(b[1], str):
                return [b[1]]
    return []


def usable(lit: str) -> bool:
    # it must appear verbatim in the raw line: printable ASCII without what JSON or logfmt
    # escapes (quotes, backslash, slash), and not a number ("500" == 500.0 compares equal)
    if not _SAFE_LITERAL.match(lit) or any(c in lit for c in "\"\\/"):
        return False
    try:
        float(lit)
    except ValueError:
        return True
    return False


def make_plan(name: str, src: LogSource, q: LogQuery, now: float, *, keep: int | None = None,
              max_line: int = 1_048_576, exact_total: bool = False, prefilter: bool = True) -> Plan:
    where = parse_where(q.where)
    lits = [x for x in (literals(where.tree) if where else []) if usable(x)]
    if q.request_id and usable(q.request_id):
        lits.append(q.request_id)
    lits = sorted(set(lits), key=len, reverse=True)  # the longest first: the rarest, usually
    if exact_total or not prefilter:
        lits = []
    if keep is None:
        keep = MAX_KEEP if q.request_id else (0 if (q.count_by or q.percentiles or q.sample) else KEEP_LINES)
    return Plan(
        source=name, fmt=src.format, pattern=src.pattern, fields=dict(src.fields), where=q.where,
        literals=tuple(x.encode() for x in lits),
        since=now - q.since, until=(now - q.until) if q.until is not None else None,
        count_by=q.count_by, pct_field=q.percentiles, by=q.by,
        slower_than_ms=q.slower_than * 1000 if q.slower_than is not None else None,
        request_id=q.request_id, sample=q.sample or 0, keep=keep, max_line=max_line, exact_total=exact_total,
    )
