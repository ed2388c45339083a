"""Canary vs baseline, the way Kayenta judges a metric: Mann-Whitney U on the two samples and the
Hodges-Lehmann estimate of the shift (canary - baseline) with its confidence interval.

A metric fails when the whole confidence interval lies beyond the tolerated change in the bad
direction: the interval, divided by the baseline's median, is compared with ``tolerance`` (0.25:
a 25 % change). Too few samples on either side is "nodata" (the judge treats it as inconclusive).

The interval's bounds are order statistics of the m x n pairwise differences. 10,000 samples a side
make 10^8 of them, so they are never built: the k-th smallest is found by searching on the value
(how many differences are <= d is one merge of the sorted canary, shifted by d, with the sorted
baseline, O(m + n)), narrowing until few enough differences remain between the bounds to list
them. The merges and the listing are compiled loops (canary/_kernels.py, numba: numpy has no merge
primitive, and its stand-ins cost a whole merge for every probe, where the compiled one walks from
the nearest probe). numpy, scipy and numba are imported inside the functions: importing opsbook
stays fast.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]

Direction = Literal["increase", "decrease", "either"]
Alternative = Literal["two-sided", "greater", "less"]
Verdict = Literal["pass", "fail", "nodata"]

# the alternative hypothesis Mann-Whitney tests for each bad direction (canary greater: an increase)
ALTERNATIVE: dict[str, Alternative] = {"increase": "greater", "decrease": "less", "either": "two-sided"}
_ENUMERATE = 0.5  # list the differences left between two bounds once there are at most this x (m + n)
_PAIR_WITHIN = 15  # from a probe within this x the listing limit of k, Newton brackets k at once
_CLUSTER = 0.025  # ks this close (a fraction of all differences) share their first probe
_WINDOW = 8  # ys either side of a row's position that its local density is measured over
_SUB = 64  # the subsample that places the first probes: about this many values a side


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    reason: str
    n_canary: int
    n_baseline: int
    u: float = math.nan
    p_value: float = math.nan
    shift: float = math.nan  # the Hodges-Lehmann estimate of canary - baseline
    lower: float = math.nan
    upper: float = math.nan
    baseline_median: float = math.nan
    canary_median: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {"verdict": self.verdict, "reason": self.reason, "n_canary": self.n_canary,
                "n_baseline": self.n_baseline, "u": num(self.u), "p_value": num(self.p_value),
                "shift": num(self.shift), "lower": num(self.lower), "upper": num(self.upper),
                "baseline_median": num(self.baseline_median), "canary_median": num(self.canary_median)}


def mann_whitney(x: Sequence[float] | Floats, y: Sequence[float] | Floats,
                 alternative: Alternative = "two-sided") -> tuple[float, float]:
    """U of ``x`` and its p-value: the normal approximation with the tie correction and the
    continuity correction (scipy.stats.mannwhitneyu(method="asymptotic") gives the same)."""
    import numpy as np

    xs, ys = np.sort(np.asarray(x, dtype=float)), np.sort(np.asarray(y, dtype=float))
    return _mann_whitney_sorted(xs, ys, alternative)


def _mann_whitney_sorted(xs: Floats, ys: Floats, alternative: Alternative,
                         below: Any = None) -> tuple[float, float]:
    """``below``: ``_below(ys, xs)`` when the caller has it already."""
    import numpy as np
    from scipy.special import ndtr

    from opsbook.canary import _kernels

    m, n = len(xs), len(ys)
    if below is None:
        below = _below(ys, xs)
    u1 = float(below.sum())  # each y below an x counts 1
    ties = 0.0
    if _kernels.any_tie(xs, ys, below):
        u1 += 0.5 * float((np.searchsorted(ys, xs, "right") - below).sum())  # and each tie a half
        _, counts = np.unique(np.concatenate([xs, ys]), return_counts=True)
        counts = counts[counts > 1].astype(float)
        ties = float((counts ** 3 - counts).sum())
    total = m + n
    mu = m * n / 2
    var = m * n / 12 * ((total + 1) - ties / (total * (total - 1)))
    if var <= 0:
        return u1, 1.0
    sd = math.sqrt(var)
    if alternative == "two-sided":
        z = (max(u1, m * n - u1) - mu - 0.5) / sd
        return u1, min(1.0, 2 * float(ndtr(-z)))
    u = u1 if alternative == "greater" else m * n - u1
    return u1, float(ndtr(-(u - mu - 0.5) / sd))


def _below(ys: Floats, keys: Floats, out: Any = None) -> Any:
    """``np.searchsorted(ys, keys, "left")`` for ascending ``keys``: how many ys are < each key, as
    one compiled merge (a key before the ys equal to it): ~2x faster than bisecting all of ys for
    every key, and no slower than numpy's fastest merge (a stable argsort of the two concatenated
    runs) without its three temporaries. Into ``out`` when given (a row of a ``_Rows``)."""
    import numpy as np

    from opsbook.canary import _kernels

    if out is None:
        out = np.empty(len(keys), np.int64)
    _kernels.merge_below(ys, keys, out)
    return out


class _Rows:
    """Rows of m positions for the probes, kept from call to call in each thread.

    A probe's row is 80 kB at 10,000 samples, and a judgement makes about ten: new memory that size
    costs a page fault per 4 kB on first touch (~50 us a row on a 2-CPU VM, more than a walk from a
    nearby probe), so the rows are taken from blocks allocated once and overwritten by the next call
    in the thread."""

    BLOCK = 16  # rows a block
    KEEP = 4  # blocks kept for the next call (more are freed with the call that needed them)

    def __init__(self, m: int) -> None:
        self.m = m
        self.blocks: list[Any] = []
        self.used = 0

    def take(self) -> Any:
        import numpy as np

        block, row = divmod(self.used, self.BLOCK)
        if block == len(self.blocks):
            self.blocks.append(np.empty((self.BLOCK, self.m), np.int64))
        self.used += 1
        return self.blocks[block][row]


_local = threading.local()
_KEEP_ROWS_UP_TO = 100_000  # samples a side: larger rows are allocated (and freed) by each call


def _rows(m: int) -> _Rows:
    """This thread's rows of m positions, all free again: a call must be done with the rows it took
    before the next call in its thread takes them (none keeps one past its return)."""
    rows: _Rows | None = getattr(_local, "rows", None)
    if rows is None or rows.m != m:
        rows = _Rows(m)
        if m <= _KEEP_ROWS_UP_TO:
            _local.rows = rows
    del rows.blocks[_Rows.KEEP:]
    rows.used = 0
    return rows


def order_statistics(xs: Floats, ys: Floats, ks: Sequence[int]) -> list[float]:
    """The k-th smallest (1-based) of the differences x_i - y_j of two sorted arrays, for each k,
    exactly, without building them. Every probe (a value d, how many differences are <= d, and
    each row's position in ys there) brackets each k. The first probe goes where an evenly strided
    subsample's differences put the middle of each cluster of close ks (the Hodges-Lehmann ks lie
    within 2 % of each other at 10,000 a side); from there, Newton steps with the count's exact
    local density at the nearest probe (``_kernels.density``): from far one step, which lands
    within well under 1 % of the distance, then a pair just either side of k. A merge's cost is its
    branches: one from a probe a million differences away moves the pointer every row, one from a
    probe a few hundred away hardly at all (``_kernels.below``), so most probes are cheap. When
    the density is no guide (ties) the search interpolates between a k's bounds, or uses the
    subsample's, and bisects every third round from the fourth, so a skewed count cannot stall it.
    Once few differences remain between a k's bounds they are listed and the k-th picked."""
    return _order_statistics(xs, ys, ks, _rows(len(xs)), None)


def _order_statistics(xs: Floats, ys: Floats, ks: Sequence[int], rows: _Rows, at_zero: Any) -> list[float]:
    """``order_statistics``, its probes' rows taken from ``rows``; ``at_zero``: ``_below(ys, xs)``
    when the caller has it (Mann-Whitney counts it), a probe at d = 0 for free."""
    import numpy as np

    from opsbook.canary import _kernels

    m, n = len(xs), len(ys)
    total = m * n
    for k in ks:
        if not 1 <= k <= total:
            raise ValueError(f"k={k} is outside 1..{total}")
    lo0, hi0 = float(np.nextafter(xs[0] - ys[-1], -np.inf)), float(xs[-1] - ys[0])
    # value -> (how many differences are <= it, its per-row searchsorted positions)
    row_lo0, row_hi0 = rows.take(), rows.take()
    row_lo0.fill(n)
    row_hi0.fill(0)
    probes: dict[float, tuple[float, Any]] = {lo0: (0.0, row_lo0), hi0: (float(total), row_hi0)}
    if at_zero is not None and lo0 < 0.0 < hi0:  # the merge Mann-Whitney made: a probe at d = 0
        probes[0.0] = (float(total - int(at_zero.sum())), at_zero)
    sub = np.sort((xs[:: max(1, m // _SUB), None] - ys[None, :: max(1, n // _SUB)]).ravel())
    # where the subsample puts each k, and how many differences a unit of value holds there
    at_sub: dict[int, float] = {}
    slope: dict[int, float] = {}
    for k in ks:
        q = min(len(sub) - 1, int(k / total * len(sub)))
        at_sub[k] = float(sub[q])
        w = max(2, len(sub) // 200)
        width = float(sub[min(len(sub) - 1, q + w)] - sub[max(0, q - w)])
        if width > 0:
            slope[k] = total / len(sub) * 2 * w / width
    # first probes: one for each cluster of close ks, where the subsample puts its middle k. A Newton
    # step from a probe (with the count's exact local density there) lands within a few thousand
    # differences of a k a million away, so the ks of one cluster need no probe of their own; nor
    # does a cluster that a probe given (d = 0) is already that close to.
    clusters: list[list[int]] = []
    for k in sorted(ks):
        if clusters and k - clusters[-1][0] <= _CLUSTER * total:
            clusters[-1].append(k)
        else:
            clusters.append([k])
    known = [c for v, (c, _) in probes.items() if v not in (lo0, hi0)]
    pending: set[float] = set()
    for cluster in clusters:
        k = cluster[len(cluster) // 2]
        if not any(abs(c - k) <= _CLUSTER * total for c in known):
            pending.add(at_sub[k])
    limit = _ENUMERATE * (m + n)
    rounds = 0
    brackets: dict[int, tuple[float, float]] = {}
    density: dict[float, float] = {}
    while True:
        pending -= probes.keys()
        values = sorted(probes)
        for d in sorted(pending):
            # the probes either side bound each row's position at d: the merge walks from the nearer
            pos = bisect.bisect(values, d)
            below, above = values[pos - 1], values[pos]
            row = rows.take()
            c = _kernels.below(ys, xs, d, probes[above][1], probes[below][1], d - below < above - d, row)
            probes[d] = (float(total - c), row)
            values.insert(pos, d)
        counts = [probes[v][0] for v in values]
        rounds += 1
        pending = set()
        last: tuple[float, float] | None = None
        last_k, last_spread = 0, math.inf
        for k in sorted(ks):
            i = bisect.bisect_left(counts, k)  # the first probe with count >= k
            lo, hi = values[i - 1], values[i]
            brackets[k] = (lo, hi)
            c_lo, c_hi = counts[i - 1], counts[i]
            if c_hi - c_lo <= limit or (rounds > 2 and _all_equal(xs, ys, probes[lo][1], probes[hi][1])):
                continue  # few enough to list, or all tied (0/1 samples tie by the million)
            if last == (lo, hi) and k - last_k <= max(last_spread, limit / 50):
                continue  # the k before had this bracket, and its probes bracket this one too
            last, last_k, last_spread = (lo, hi), k, math.inf  # a Newton pair only serves the ks it spans
            bisecting = rounds % 3 == 1 and rounds > 1  # now and then, so a skewed count cannot stall it
            if bisecting:
                guesses = [lo + (hi - lo) / 2]
            else:
                # Newton from the probe nearer k: its rows give the count's exact local density
                near, c_near = (lo, c_lo) if hi == hi0 or (lo != lo0 and k - c_lo < c_hi - k) else (hi, c_hi)
                if near not in density and near not in (lo0, hi0):
                    density[near] = float(_kernels.density(ys, probes[near][1], _WINDOW))
                spread = limit / 3
                if density.get(near, 0.0) > 0 and math.isfinite(density[near]):
                    per = 1 / density[near]
                    at = near + per * (k - c_near)
                    # its error grows with the distance (under 1 % of it): from afar, one step first (a
                    # pair either side of k would be far apart, and a probe far from the others costs
                    # a whole merge); from close, bracket k by that error either side
                    if abs(k - c_near) > _PAIR_WITHIN * limit:
                        spread = 0.0
                    else:
                        spread = min(spread, max(limit / 50, abs(k - c_near) / 100))
                    last_spread = spread
                elif (lo == lo0 or hi == hi0) and k in slope:  # one side is still the extreme: use the
                    near, c_near = (hi, c_hi) if lo == lo0 else (lo, c_lo)  # subsample's local density
                    per = 1 / slope[k]
                    at = near + per * (k - c_near)
                else:  # between close bounds the count is nearly linear
                    per = (hi - lo) / (c_hi - c_lo)
                    at = lo + per * (k - c_lo)
                guesses = [at - per * spread, at + per * spread] if spread else [at]  # one either side of k
            inside = {g for g in guesses if lo < g < hi} or {g for g in [lo + (hi - lo) / 2] if lo < g < hi}
            pending |= inside
            just_below = hi - (abs(hi) + 1.0) * 1e-9  # ties: is hi itself the k-th? (not an ulp away:
            if (bisecting or not inside) and lo < just_below:  # x - d must stay exact)
                pending.add(just_below)
        if not pending:
            break
    picked: dict[int, float] = {}
    by_bracket: dict[tuple[float, float], list[int]] = {}
    for k in ks:
        by_bracket.setdefault(brackets[k], []).append(k)
    for (lo, hi), group in by_bracket.items():
        picked.update(zip(group, _pick(xs, ys, probes[lo], probes[hi], group), strict=True))
    return [picked[k] for k in ks]


def _all_equal(xs: Floats, ys: Floats, stop: Any, start: Any) -> bool:
    """Are the differences between two probes all one value? Row i's, x_i - y_j for j in
    [start_i, stop_i), fall as j grows: its first and last are its largest and smallest."""
    from opsbook.canary import _kernels

    return bool(_kernels.all_equal(xs, ys, stop, start))


def _pick(xs: Floats, ys: Floats, low: tuple[float, Any], high: tuple[float, Any], ks: list[int]) -> list[float]:
    """The ks-th smallest differences, knowing how many are <= the two probes around them: row i's
    differences between them are x_i - y_j for the j from its position at high to its position at low."""
    import numpy as np

    (c_lo, stop), (_, start) = low, high
    sizes = stop - start
    count = int(sizes.sum())
    if count > 4 * _ENUMERATE * (len(xs) + len(ys)) and _all_equal(xs, ys, stop, start):
        rows = np.flatnonzero(sizes)
        return [float(xs[rows[0]] - ys[start[rows[0]]])] * len(ks)
    from opsbook.canary import _kernels

    diffs = _kernels.between(xs, ys, start, stop, count)
    wants = [int(k - c_lo) - 1 for k in ks]
    part = np.partition(diffs, wants)
    return [float(part[w]) for w in wants]


def order_statistic(xs: Floats, ys: Floats, k: int) -> float:
    """The k-th smallest (1-based) of the differences x_i - y_j of two sorted arrays."""
    return order_statistics(xs, ys, [k])[0]


def hodges_lehmann(x: Sequence[float] | Floats, y: Sequence[float] | Floats,
                   confidence: float = 0.98) -> tuple[float, float, float]:
    """(estimate, lower, upper): the median of the pairwise differences x - y and the distribution-free
    confidence interval around it (the order statistics the normal approximation of U puts at the
    confidence's two tails)."""
    import numpy as np

    xs, ys = np.sort(np.asarray(x, dtype=float)), np.sort(np.asarray(y, dtype=float))
    return _hodges_lehmann_sorted(xs, ys, confidence)


def _hodges_lehmann_sorted(xs: Floats, ys: Floats, confidence: float, rows: _Rows | None = None,
                           at_zero: Any = None) -> tuple[float, float, float]:
    from scipy.special import ndtri

    m, n = len(xs), len(ys)
    total = m * n
    z = float(ndtri(1 - (1 - confidence) / 2))
    k = math.floor(total / 2 - z * math.sqrt(total * (m + n + 1) / 12))
    k = min(max(k, 1), (total + 1) // 2)
    middle = [total // 2 + 1] if total % 2 else [total // 2, total // 2 + 1]
    got = _order_statistics(xs, ys, [k, *middle, total - k + 1], rows or _rows(m), at_zero)
    return sum(got[1:-1]) / len(middle), got[0], got[-1]


def _sorted_numbers(a: Floats) -> Floats:
    """``np.sort(a[~np.isnan(a)])``: sorting puts the NaNs last, so cut them off there (no mask and
    copy of the whole sample when there are none, the usual case)."""
    import numpy as np

    a = np.sort(a)
    if len(a) and np.isnan(a[-1]):
        a = a[: int(np.argmax(np.isnan(a)))]
    return a


def _sorted_median(xs: Floats) -> float:
    """np.median of an already sorted array (the same (a + b) / 2), without partitioning it again."""
    n = len(xs)
    return float(xs[n // 2]) if n % 2 else float((xs[n // 2 - 1] + xs[n // 2]) / 2)


def compare(canary: Sequence[float] | Floats, baseline: Sequence[float] | Floats, *,
            direction: Direction = "increase", tolerance: float = 0.25, confidence: float = 0.98,
            min_samples: int = 10) -> Comparison:
    """Judge one metric: "fail" when the confidence interval of canary - baseline, relative to the
    baseline's median, lies wholly past ``tolerance`` in the bad ``direction``."""
    import numpy as np

    xs = np.asarray(canary, dtype=float)
    ys = np.asarray(baseline, dtype=float)
    xs, ys = _sorted_numbers(xs), _sorted_numbers(ys)
    m, n = len(xs), len(ys)
    if m < min_samples or n < min_samples:
        return Comparison("nodata", f"too few samples: canary {m}, baseline {n} (min_samples {min_samples})", m, n)
    rows = _rows(m)
    below = _below(ys, xs, rows.take())  # U counts it; the order statistics start from it (a probe at d = 0)
    u, p = _mann_whitney_sorted(xs, ys, ALTERNATIVE[direction], below)
    shift, lower, upper = _hodges_lehmann_sorted(xs, ys, confidence, rows, below)
    base, mid = _sorted_median(ys), _sorted_median(xs)
    # relative to the baseline's median; a zero median (an error rate of 0) compares absolutely
    scale = abs(base) if base != 0 else 1.0
    rel_lo, rel_hi = lower / scale, upper / scale
    worse_up = direction in ("increase", "either") and rel_lo > tolerance
    worse_down = direction in ("decrease", "either") and rel_hi < -tolerance
    common = dict(n_canary=m, n_baseline=n, u=u, p_value=p, shift=shift, lower=lower, upper=upper,
                  baseline_median=base, canary_median=mid)
    span = f"[{rel_lo:+.1%}, {rel_hi:+.1%}] of the baseline median {base:g}"
    if worse_up or worse_down:
        word = "higher" if worse_up else "lower"
        return Comparison("fail", f"canary is {word}: the {confidence:.0%} interval {span} is past "
                                  f"the tolerance {tolerance:.0%} (p={p:.3g})", **common)  # type: ignore[arg-type]
    return Comparison("pass", f"within tolerance {tolerance:.0%}: the {confidence:.0%} interval {span} "
                              f"(p={p:.3g})", **common)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Job:
    """One metric to judge with ``compare``: its samples and its ``compare:`` settings."""

    canary: Sequence[float] | Floats
    baseline: Sequence[float] | Floats
    direction: Direction = "increase"
    tolerance: float = 0.25
    confidence: float = 0.98
    min_samples: int = 10


def compare_all(jobs: Sequence[Job], workers: int | None = None) -> list[Comparison]:
    """``compare`` for each job, in order, on a few threads: the merges and sorts release the GIL
    (numba ``nogil`` kernels, numpy's sort), so on 2 CPUs 50 metrics judge ~1.5x faster than one
    after another (bench/canary.py). The answers are the same as one by one."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(j: Job) -> Comparison:
        return compare(j.canary, j.baseline, direction=j.direction, tolerance=j.tolerance,
                       confidence=j.confidence, min_samples=j.min_samples)

    n = min(len(jobs), workers or os.cpu_count() or 1, 8)
    if n <= 1:
        return [one(j) for j in jobs]
    with _POOL_LOCK:  # one pool per process, kept: its threads keep their reusable rows (``_rows``)
        pool = _POOL.get(n)
        if pool is None:
            pool = _POOL[n] = ThreadPoolExecutor(n, thread_name_prefix="opsbook-judge")
    return list(pool.map(one, jobs))


_POOL: dict[int, Any] = {}
_POOL_LOCK = threading.Lock()
