"""The loops canary/stats.py's order statistics spend their time in, compiled with numba: a probe's
merge (how many ys are below each x - d), the listing of the differences between two probes, the
count's local density at a probe, and two scans for ties.

The merge is why: numpy has no merge primitive. Its stand-ins cost the same for every probe (a
stable argsort of the two concatenated runs ~120 us at 10k + 10k, np.searchsorted ~280 us), while
the compiled walk starts from the nearest probe's positions and costs ~15-30 us when that probe is
a few thousand differences away, which most probes of the Newton search in stats.py are (a whole
merge from far away costs about what the argsort does: ~one mispredicted branch a row). They compute
exactly what the numpy expressions in their docstrings say (the same IEEE subtraction ``x - d``, no
fastmath), so the results are the same bit for bit.

Importing this module imports numba (~0.5 s, more on a loaded machine) and happens only when
judging, never at start-up. ``cache=True`` keeps the machine code in __pycache__ next to this file
(or in NUMBA_CACHE_DIR, or the user's cache directory when the install location is read-only), so
the compile (a few seconds) is paid once per install, not per process; with no writable place at
all numba refuses ``cache=True``, and the functions are compiled uncached instead (each process then
pays the compile on its first judgement).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def _jit(fn: F) -> F:
    try:
        return cast(F, numba.njit(cache=True, nogil=True)(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available" (nowhere writable)
        return cast(F, numba.njit(cache=False, nogil=True)(fn))


@_jit
def below(ys: Any, xs: Any, d: float, low: Any, high: Any, down: bool, out: Any) -> int:
    """out[i] = how many ys are < xs[i] - d (``np.searchsorted(ys, xs - d, "left")``), knowing
    low[i] <= out[i] <= high[i] (the positions at the probes either side of d, or 0 and n); returns
    out's sum.

    xs and ys ascend, so do the keys xs[i] - d (rounding is monotone): one pointer into ys walks
    forward over the rows from low (``down`` False), or backward over them from high, never through
    the same ys twice. Walking from the probe nearer d it moves only as far as the rows' positions
    differ between that probe and d, instead of through all of ys. That matters: each move is a
    data-dependent branch the CPU mispredicts about half the time when rows move ~1 apart, so a whole
    merge of 10k + 10k costs ~100-150 us, a walk from a probe a few hundred differences away ~15 us."""
    m = len(xs)
    total = 0
    if not down:
        j = 0
        for i in range(m):
            key = xs[i] - d
            j = max(j, low[i])
            stop = high[i]
            while j < stop and ys[j] < key:
                j += 1
            out[i] = j
            total += j
    else:
        j = len(ys)
        for i in range(m - 1, -1, -1):
            key = xs[i] - d
            j = min(j, high[i])
            stop = low[i]
            while j > stop and not ys[j - 1] < key:
                j -= 1
            out[i] = j
            total += j
    return total


@_jit
def merge_below(ys: Any, keys: Any, out: Any) -> int:
    """out[i] = how many ys are < keys[i], keys ascending (one merge); returns out's sum."""
    n = len(ys)
    j = 0
    total = 0
    for i in range(len(keys)):
        key = keys[i]
        while j < n and ys[j] < key:
            j += 1
        out[i] = j
        total += j
    return total


@_jit
def between(xs: Any, ys: Any, start: Any, stop: Any, count: int) -> Any:
    """The ``count`` differences x_i - y_j for j in [start_i, stop_i), row after row."""
    out = np.empty(count, dtype=np.float64)
    p = 0
    for i in range(len(xs)):
        x = xs[i]
        for j in range(start[i], stop[i]):
            out[p] = x - ys[j]
            p += 1
    return out


@_jit
def density(ys: Any, row: Any, w: int) -> float:
    """How many differences a unit of d holds at a probe (the count's slope there): each row's ys
    per unit of value around its position, over 2w of them; inf where ys tie (no slope to follow)."""
    n = len(ys)
    total = 0.0
    for i in range(len(row)):
        r = row[i]
        if r == 0 or r == n:
            continue  # the key is outside ys: no ys around it
        a = max(r - w, 0)
        b = min(r + w, n - 1)
        gap = ys[b] - ys[a]
        if gap <= 0:
            return np.inf
        total += (b - a) / gap
    return total


@_jit
def all_equal(xs: Any, ys: Any, stop: Any, start: Any) -> bool:
    """Are the differences x_i - y_j for j in [start_i, stop_i) all one value? (Row i's fall as j
    grows: its first and last are its largest and smallest.) True when there are none."""
    big = -np.inf
    small = np.inf
    for i in range(len(xs)):
        if stop[i] > start[i]:
            big = max(big, xs[i] - ys[start[i]])
            small = min(small, xs[i] - ys[stop[i] - 1])
    return big == small or big == -np.inf


@_jit
def any_tie(xs: Any, ys: Any, below: Any) -> bool:
    """Does any value occur twice in xs and ys together? (``below``: how many ys are < each x.)"""
    m, n = len(xs), len(ys)
    for i in range(m):
        if (below[i] < n and ys[below[i]] == xs[i]) or (i > 0 and xs[i] == xs[i - 1]):
            return True
    for j in range(1, n):  # noqa: SIM110 - a loop numba compiles, not a generator it may not
        if ys[j] == ys[j - 1]:
            return True
    return False
