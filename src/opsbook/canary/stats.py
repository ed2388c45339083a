"""Canary vs baseline, the way Kayenta judges a metric: Mann-Whitney U on the two samples and the
Hodges-Lehmann estimate of the shift (canary - baseline) with its confidence interval.

A metric fails when the whole confidence interval lies beyond the tolerated change in the bad
direction: the interval, divided by the baseline's median, is compared with ``tolerance`` (0.25:
a 25 % change). Too few samples on either side is "nodata" (the judge treats it as inconclusive).

The interval's bounds are order statistics of the m x n pairwise differences. 10,000 samples a side
make 10^8 of them, so they are never built: the k-th smallest is found by searching on the value
(how many differences are <= d is one merge of the sorted canary, shifted by d, with the sorted
baseline, O(m + n)), narrowing until few enough differences remain between the bounds to list
them. numpy and scipy are imported inside the functions: importing opsbook stays fast.
"""

from __future__ import annotations

import math
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


def _mann_whitney_sorted(xs: Floats, ys: Floats, alternative: Alternative) -> tuple[float, float]:
    import numpy as np
    from scipy.special import ndtr

    m, n = len(xs), len(ys)
    below = _below(ys, xs)
    u1 = float(below.sum())  # each y below an x counts 1
    tied = ys[np.minimum(below, n - 1)] == xs
    ties = 0.0
    if bool(tied.any()) or bool(np.any(xs[1:] == xs[:-1])) or bool(np.any(ys[1:] == ys[:-1])):
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


def _probe(xs: Floats, ys: Floats, ds: Floats) -> Any:
    """For each d, row i: how many y_j are < x_i - d (so n minus that many differences x_i - y_j
    are <= d)."""
    import numpy as np

    return np.stack([_below(ys, xs - d) for d in ds])


def _below(ys: Floats, keys: Floats) -> Any:
    """``np.searchsorted(ys, keys, "left")`` for ascending ``keys``: how many ys are < each key.
    A stable argsort of the two concatenated runs is one merge (timsort finds the runs), 1.4x
    faster than bisecting all of ys for every key; stable, so a key sorts before the ys equal to it."""
    import numpy as np

    m = len(keys)
    order = np.argsort(np.concatenate([keys, ys]), kind="stable")
    return np.flatnonzero(order < m) - np.arange(m)


def order_statistics(xs: Floats, ys: Floats, ks: Sequence[int]) -> list[float]:
    """The k-th smallest (1-based) of the differences x_i - y_j of two sorted arrays, for each k,
    exactly, without building them. Every probe (a value d and how many differences are <= d)
    brackets each k; the first probes come from the differences of an evenly strided subsample,
    the next by interpolating between a k's bounds (bisecting every third round, so a skewed count
    cannot stall it); each probe is one merge (``_below``). Once few differences remain
    between a k's bounds they are listed and the k-th picked."""
    import numpy as np

    m, n = len(xs), len(ys)
    total = m * n
    for k in ks:
        if not 1 <= k <= total:
            raise ValueError(f"k={k} is outside 1..{total}")
    lo0, hi0 = float(np.nextafter(xs[0] - ys[-1], -np.inf)), float(xs[-1] - ys[0])
    # value -> (how many differences are <= it, its per-row searchsorted positions)
    probes: dict[float, tuple[float, Any]] = {lo0: (0.0, np.full(m, n)), hi0: (float(total), np.zeros(m, int))}
    sub = np.sort((xs[:: max(1, m // 100), None] - ys[None, :: max(1, n // 100)]).ravel())
    # first probes: where the subsample puts each k, and how many differences a unit of value holds there
    slope: dict[int, float] = {}
    pending: set[float] = set()
    for k in ks:
        q = min(len(sub) - 1, int(k / total * len(sub)))
        pending.add(float(sub[q]))
        w = max(2, len(sub) // 200)
        width = float(sub[min(len(sub) - 1, q + w)] - sub[max(0, q - w)])
        if width > 0:
            slope[k] = total / len(sub) * 2 * w / width
    limit = _ENUMERATE * (m + n)
    rounds = 0
    brackets: dict[int, tuple[float, float]] = {}
    while True:
        pending -= probes.keys()
        if pending:
            ds = np.array(sorted(pending))
            for d, row in zip(ds, _probe(xs, ys, ds), strict=True):
                probes[float(d)] = (float(total - row.sum()), row)
        values = sorted(probes)
        counts = np.array([probes[v][0] for v in values])
        rounds += 1
        pending = set()
        last: tuple[float, float] | None = None
        for k in sorted(ks):
            i = int(np.searchsorted(counts, k, "left"))  # the first probe with count >= k
            lo, hi = values[i - 1], values[i]
            brackets[k] = (lo, hi)
            c_lo, c_hi = counts[i - 1], counts[i]
            if c_hi - c_lo <= limit or (rounds > 2 and _all_equal(xs, ys, probes[lo][1], probes[hi][1])):
                continue  # few enough to list, or all tied (0/1 samples tie by the million)
            if last == (lo, hi):
                continue  # the k before had this bracket: its probes serve this one too
            last = (lo, hi)
            if rounds % 3 == 0:  # bisect now and then, so a skewed count cannot stall the search
                guesses = [lo + (hi - lo) / 2]
            else:
                if (lo == lo0 or hi == hi0) and k in slope:  # one side is still the extreme: use the
                    near, c_near = (hi, c_hi) if lo == lo0 else (lo, c_lo)  # subsample's local density
                    per = 1 / slope[k]
                    at = near + per * (k - c_near)
                else:  # between close bounds the count is nearly linear
                    per = (hi - lo) / (c_hi - c_lo)
                    at = lo + per * (k - c_lo)
                guesses = [at - per * limit / 3, at + per * limit / 3]  # one either side of k
            inside = {g for g in guesses if lo < g < hi} or {g for g in [lo + (hi - lo) / 2] if lo < g < hi}
            pending |= inside
            just_below = hi - (abs(hi) + 1.0) * 1e-9  # ties: is hi itself the k-th? (not an ulp away:
            if (rounds % 3 == 0 or not inside) and lo < just_below:  # x - d must stay exact)
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
    import numpy as np

    rows = np.flatnonzero(stop > start)
    if len(rows) == 0:
        return True
    first = xs[rows] - ys[start[rows]]
    last = xs[rows] - ys[stop[rows] - 1]
    return bool(first.max() == last.min())


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
    # row i's j run from start_i up: the column of each listed difference is its place in the list
    # minus where its row begins in the list, plus start_i (one repeat of that, not of the rows)
    cols = np.arange(count) + np.repeat(start - (np.cumsum(sizes) - sizes), sizes)
    diffs = np.repeat(xs, sizes) - ys[cols]
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


def _hodges_lehmann_sorted(xs: Floats, ys: Floats, confidence: float) -> tuple[float, float, float]:
    from scipy.special import ndtri

    m, n = len(xs), len(ys)
    total = m * n
    z = float(ndtri(1 - (1 - confidence) / 2))
    k = math.floor(total / 2 - z * math.sqrt(total * (m + n + 1) / 12))
    k = min(max(k, 1), (total + 1) // 2)
    middle = [total // 2 + 1] if total % 2 else [total // 2, total // 2 + 1]
    got = order_statistics(xs, ys, [k, *middle, total - k + 1])
    return sum(got[1:-1]) / len(middle), got[0], got[-1]


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
    xs, ys = np.sort(xs[~np.isnan(xs)]), np.sort(ys[~np.isnan(ys)])
    m, n = len(xs), len(ys)
    if m < min_samples or n < min_samples:
        return Comparison("nodata", f"too few samples: canary {m}, baseline {n} (min_samples {min_samples})", m, n)
    u, p = _mann_whitney_sorted(xs, ys, ALTERNATIVE[direction])
    shift, lower, upper = _hodges_lehmann_sorted(xs, ys, confidence)
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
