"""The scanner: bytes in large chunks -> lines -> (prefilter) -> parsed records -> the window, the
filter -> the tallies of one ``Acc``. Accs of byte ranges scanned in other processes merge.

Speed (bench/logs.py): a chunk is split on newlines by C code; when the query implies a literal
(a request id, ``level == 'error'``) only the lines holding it are cut out of the chunk
(``bytes.find``) and parsed; JSON is decoded by orjson. Everything else is the filter's cost.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .formats.registry import FORMATS
from .plan import Plan
from .timestamps import to_epoch

BAD_EXAMPLES = 5  # unparsable lines quoted (the first ones)
CLIP = 2000  # characters of a line kept
_TS_KEYS = ("ts", "time", "timestamp", "@timestamp", "t", "date")
_MISSING = object()


@dataclass
class Acc:
    """What one scan of one piece of one source found. Merged in source/file order."""

    source: str
    lines: int = 0  # lines read (with a prefilter: lines in the chunks, parsed or not)
    parsed: int = 0
    in_window: int = 0  # parsed lines inside since..until
    matched: int = 0
    no_ts: int = 0  # parsed lines without a readable timestamp (left out when a window is set)
    unparsable: int = 0
    bad: list[tuple[str, str, str]] = field(default_factory=list)  # (source, why, line)
    bytes: int = 0
    counts: dict[Any, int] = field(default_factory=dict)
    values: dict[str, array[float]] = field(default_factory=dict)
    kept: list[tuple[float | None, str, str]] = field(default_factory=list)  # (ts, source, line)
    kept_more: int = 0  # matching lines not kept
    sample: list[tuple[float | None, str, str]] = field(default_factory=list)
    sample_seen: int = 0

    def merge(self, o: Acc, keep: int, sample: int) -> None:
        self.lines += o.lines
        self.parsed += o.parsed
        self.in_window += o.in_window
        self.matched += o.matched
        self.no_ts += o.no_ts
        self.unparsable += o.unparsable
        self.bytes += o.bytes
        self.bad.extend(o.bad[: max(0, BAD_EXAMPLES - len(self.bad))])
        for k, n in o.counts.items():
            self.counts[k] = self.counts.get(k, 0) + n
        for g, vs in o.values.items():
            mine = self.values.get(g)
            if mine is None:
                self.values[g] = vs
            else:
                mine.extend(vs)
        room = keep - len(self.kept)
        self.kept.extend(o.kept[: max(0, room)])
        self.kept_more += o.kept_more + max(0, len(o.kept) - max(0, room))
        self.sample = _merge_samples(self.sample, self.sample_seen, o.sample, o.sample_seen, sample)
        self.sample_seen += o.sample_seen


def _merge_samples(a: list[Any], na: int, b: list[Any], nb: int, k: int) -> list[Any]:
    """Two uniform samples of na and nb lines -> one uniform sample of their union."""
    if not b:
        return a
    if not a:
        return b
    a, b = list(a), list(b)
    out: list[Any] = []
    rng = random.Random()
    while len(out) < k and (a or b):
        # the next pick comes from a side in proportion to the lines that side stands for
        take_a = bool(a) and (not b or rng.random() < na / (na + nb))
        side = a if take_a else b
        out.append(side.pop(rng.randrange(len(side))))
        if take_a:
            na = max(na - 1, 1)
        else:
            nb = max(nb - 1, 1)
    return out


def _getter(path: str) -> Callable[[dict[str, Any]], Any]:
    if "." not in path:
        return lambda rec: rec.get(path, _MISSING)
    parts = path.split(".")

    def get(rec: dict[str, Any]) -> Any:
        cur: Any = rec
        for p in parts:
            if not isinstance(cur, dict) or p not in cur:
                return _MISSING
            cur = cur[p]
        return cur

    return get


def _num(v: Any) -> float | None:
    t = type(v)
    if t is int or t is float:
        return float(v)
    if t is str:
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _key(v: Any) -> Any:
    if v is _MISSING or v is None:
        return "(none)"
    if isinstance(v, dict | list):
        import orjson

        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    return v


SLACK = 300.0  # seconds: a chunk whose first and last lines are this far inside the window is all inside


@dataclass
class Handlers:
    """The per-line work of a plan: ``checked`` tests each line's time against the window,
    ``inside`` is for a chunk known to lie inside it (no time parsed unless the line is kept);
    ``ts_of`` reads one line's time (None: unreadable)."""

    checked: Callable[[bytes], None]
    inside: Callable[[bytes], None]
    ts_of: Callable[[bytes], float | None]
    since: float | None
    until: float | None


def line_handler(plan: Plan, acc: Acc) -> Handlers:
    """The per-line work for ``plan``, as closures (attribute lookups hoisted: they run per line)."""
    from ..config.assertions import Assertion

    parse = FORMATS.lookup(plan.fmt).parser(plan.pattern)
    mapping = [(c, _getter(s)) for c, s in plan.fields.items() if c != s]
    ts_get = _getter(plan.fields["ts"]) if "ts" in plan.fields else None
    holds = Assertion.parse(plan.where).holds if plan.where else None
    since, until = plan.since, plan.until
    windowed = since is not None or until is not None
    rid = plan.request_id
    slower = plan.slower_than_ms
    count_by, pct, by = plan.count_by, plan.pct_field, plan.by
    counts, values = acc.counts, acc.values
    keep, sample = plan.keep, plan.sample
    max_line, source = plan.max_line, plan.source
    rng = random.Random()

    def bad(line: bytes, why: str) -> None:
        acc.unparsable += 1
        if len(acc.bad) < BAD_EXAMPLES:
            acc.bad.append((source, why[:200], line[:CLIP].decode("utf-8", "replace")))

    def ts_in(rec: dict[str, Any]) -> float | None:
        if ts_get is not None:
            raw = ts_get(rec)
        else:
            raw = None
            for k in _TS_KEYS:
                if k in rec:
                    raw = rec[k]
                    break
        return to_epoch(raw) if raw is not None and raw is not _MISSING else None

    def record(line: bytes) -> dict[str, Any] | None:
        if len(line) > max_line:
            bad(line[:200], f"longer than max_line ({len(line)} bytes)")
            return None
        try:
            rec = parse(line)
        except ValueError as e:
            if line.strip():
                bad(line, str(e))
            return None
        acc.parsed += 1
        for c, get in mapping:
            v = get(rec)
            if v is not _MISSING:
                rec[c] = v
        return rec

    def tally(rec: dict[str, Any], line: bytes, ts: float | None, known: bool) -> None:
        acc.in_window += 1
        if rid is not None and str(rec.get("request_id")) != rid:
            return
        if holds is not None and not holds(rec):
            return
        if slower is not None:
            d = _num(rec.get("duration_ms"))
            if d is None or d <= slower:
                return
        acc.matched += 1
        if count_by is not None:
            k = _key(rec.get(count_by, _MISSING))
            counts[k] = counts.get(k, 0) + 1
        if pct is not None:
            v = _num(rec.get(pct))
            if v is not None:
                g = str(_key(rec.get(by, _MISSING))) if by else "*"
                arr = values.get(g)
                if arr is None:
                    arr = values[g] = array("d")
                arr.append(v)
        if keep or sample:
            if not known:
                ts = ts_in(rec)
            text = line[:CLIP].decode("utf-8", "replace")
            if keep:
                if len(acc.kept) < keep:
                    acc.kept.append((ts, source, text))
                else:
                    acc.kept_more += 1
            if sample:
                acc.sample_seen += 1
                if len(acc.sample) < sample:
                    acc.sample.append((ts, source, text))
                else:
                    j = rng.randrange(acc.sample_seen)
                    if j < sample:
                        acc.sample[j] = (ts, source, text)

    def checked(line: bytes) -> None:
        rec = record(line)
        if rec is None:
            return
        ts = ts_in(rec)
        if ts is None:
            acc.no_ts += 1
            if windowed:
                return
        elif (since is not None and ts < since) or (until is not None and ts >= until):
            return
        tally(rec, line, ts, True)

    def inside(line: bytes) -> None:
        rec = record(line)
        if rec is not None:
            tally(rec, line, None, False)

    def ts_of(line: bytes) -> float | None:
        try:
            rec = parse(line)
        except ValueError:
            return None
        for c, get in mapping:
            if c == "ts":
                v = get(rec)
                if v is not _MISSING:
                    rec[c] = v
        return ts_in(rec)

    return Handlers(checked, inside, ts_of, since, until)


def scan(chunks: Iterable[bytes], plan: Plan, acc: Acc) -> Acc:
    """Feed ``chunks`` (any sizes) through the plan's line handler. A line longer than max_line is
    counted unparsable and skipped without being held in memory."""
    h = line_handler(plan, acc)
    lits = plan.literals
    first, others = (lits[0], lits[1:]) if lits else (b"", ())
    max_line = plan.max_line
    carry = b""
    skipping = False
    for chunk in chunks:
        acc.bytes += len(chunk)
        if skipping:
            i = chunk.find(b"\n")
            if i < 0:
                continue
            chunk = chunk[i + 1:]
            skipping = False
        if carry:
            chunk = carry + chunk
            carry = b""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if len(chunk) > max_line:
                h.checked(chunk[: max_line + 1])
                acc.lines += 1
                skipping = True
            else:
                carry = chunk
            continue
        if len(chunk) - cut - 1 > max_line:
            h.checked(chunk[cut + 1: cut + 2 + max_line])
            acc.lines += 1
            skipping = True
        else:
            carry = chunk[cut + 1:]
        _block(chunk, cut, first, others, h, acc)
    if carry:
        _block(carry, len(carry), first, others, h, acc)
    return acc


def _inside(chunk: bytes, end: int, h: Handlers) -> bool:
    """Whether the chunk's first and last lines are well inside the window (then every line is:
    a log is written in time order, give or take SLACK)."""
    if h.since is None and h.until is None:
        return True
    nl = chunk.find(b"\n", 0, end)
    first = h.ts_of(chunk[: nl if nl >= 0 else end])
    last = h.ts_of(chunk[chunk.rfind(b"\n", 0, end) + 1: end])
    if first is None or last is None:
        return False
    lo, hi = min(first, last), max(first, last)
    return (h.since is None or lo >= h.since + SLACK) and (h.until is None or hi < h.until - SLACK)


def _block(chunk: bytes, end: int, first: bytes, others: tuple[bytes, ...], h: Handlers, acc: Acc) -> None:
    """The whole lines of ``chunk[:end]``."""
    acc.lines += chunk.count(b"\n", 0, end) + 1
    handle = h.inside if _inside(chunk, end, h) else h.checked
    if not first:
        for line in chunk[:end].split(b"\n"):
            handle(line)
        return
    find, rfind = chunk.find, chunk.rfind
    i = find(first, 0, end)
    while i >= 0:
        s = rfind(b"\n", 0, i) + 1
        e = find(b"\n", i, end)
        if e < 0:
            e = end
        line = chunk[s:e]
        if all(o in line for o in others):
            handle(line)
        i = find(first, e, end)


def percentile(sorted_values: list[float] | array[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    n = len(sorted_values)
    return sorted_values[max(0, math.ceil(p / 100 * n) - 1)]
