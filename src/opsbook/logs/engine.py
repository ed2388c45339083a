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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def percentile(sorted_values: list[float] | array[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    n = len(sorted_values)
    return sorted_values[max(0, math.ceil(p / 100 * n) - 1)]
