"""The canary statistics: Mann-Whitney U and its p-value agree with scipy's own mannwhitneyu, the
Hodges-Lehmann order statistics agree with brute force over every pairwise difference, and a
metric fails only when its confidence interval is past the tolerance in the bad direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from opsbook.canary import stats

RNG = np.random.default_rng(20260301)
# fixed samples: continuous, with ties, 0/1 outcomes, and of unequal sizes
SAMPLES = [
    (RNG.normal(100, 10, 40), RNG.normal(104, 12, 55)),
    (RNG.integers(0, 8, 30).astype(float), RNG.integers(0, 8, 25).astype(float)),
    (RNG.integers(0, 2, 200).astype(float), RNG.integers(0, 2, 150).astype(float)),
    (RNG.lognormal(3, 1, 500), RNG.lognormal(3.2, 1, 400)),
]


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_u_and_the_p_value_equal_scipys_mannwhitneyu(sample: int, alternative: stats.Alternative) -> None:
    x, y = SAMPLES[sample]
    u, p = stats.mann_whitney(x, y, alternative)
    want = mannwhitneyu(x, y, alternative=alternative, method="asymptotic", use_continuity=True)
    assert u == pytest.approx(float(want.statistic), abs=1e-9)
    assert p == pytest.approx(float(want.pvalue), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_every_order_statistic_of_the_differences_equals_brute_force(sample: int) -> None:
    x, y = (np.sort(a) for a in SAMPLES[sample])
    every = np.sort((x[:, None] - y[None, :]).ravel())
    ks = sorted({1, 2, len(every) // 3, len(every) // 2, len(every) // 2 + 1, len(every) - 1, len(every)})
    assert stats.order_statistics(x, y, ks) == [float(every[k - 1]) for k in ks]


def test_all_order_statistics_of_small_tied_samples_equal_brute_force() -> None:
    for m, n in [(1, 1), (2, 3), (5, 7), (31, 17)]:
        x = np.sort(RNG.integers(0, 6, m).astype(float))
        y = np.sort(RNG.integers(0, 6, n).astype(float))
        every = np.sort((x[:, None] - y[None, :]).ravel())
        assert stats.order_statistics(x, y, list(range(1, m * n + 1))) == [float(v) for v in every]


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_the_hodges_lehmann_estimate_is_the_median_of_the_pairwise_differences(sample: int) -> None:
    x, y = SAMPLES[sample]
    shift, lower, upper = stats.hodges_lehmann(x, y, 0.98)
    assert shift == pytest.approx(float(np.median(np.subtract.outer(x, y))))
    assert lower <= shift <= upper


def test_a_canary_slower_by_half_fails_and_the_same_service_passes() -> None:
    base = RNG.normal(100, 10, 2000)
    slow = stats.compare(RNG.normal(150, 10, 2000), base, direction="increase")
    same = stats.compare(RNG.normal(100, 10, 2000), base, direction="increase")
    assert slow.verdict == "fail" and "higher" in slow.reason
    assert same.verdict == "pass"
    assert slow.lower / slow.baseline_median > 0.25


def test_a_decrease_fails_only_when_decrease_is_the_bad_direction() -> None:
    base = RNG.normal(100, 5, 500)
    fewer = RNG.normal(50, 5, 500)
    assert stats.compare(fewer, base, direction="increase").verdict == "pass"
    assert stats.compare(fewer, base, direction="decrease").verdict == "fail"
    assert stats.compare(fewer, base, direction="either").verdict == "fail"


def test_too_few_samples_is_no_data_not_a_pass() -> None:
    got = stats.compare([1.0, 2.0], RNG.normal(1, 1, 50), min_samples=10)
    assert got.verdict == "nodata" and "too few samples" in got.reason


def test_ten_thousand_a_side_gives_the_exact_interval_without_the_product() -> None:
    x, y = np.sort(RNG.normal(100, 10, 10_000)), np.sort(RNG.normal(101, 10, 10_000))
    sub_x, sub_y = x[::50], y[::50]  # 200 x 200: brute force is cheap, the method is the same
    every = np.sort((sub_x[:, None] - sub_y[None, :]).ravel())
    assert stats.order_statistics(sub_x, sub_y, [9_000, 20_000]) == [float(every[8_999]), float(every[19_999])]
    shift, lower, upper = stats.hodges_lehmann(x, y)
    assert lower < shift < upper
    assert -1.0 - 1.0 < shift < -1.0 + 1.0


# the counting primitive every order statistic and U rest on: "how many ys are < each key"
HARD_VALUES = [
    (np.array([0.0, 1.0, 1.0, 1.0, 2.0]), np.array([-1.0, 0.0, 1.0, 1.0, 3.0])),  # ties on both sides
    (np.full(50, 1e300), np.full(40, 1e300)),  # large identical values
    (np.sort(np.r_[np.full(30, 2.0**53), np.full(30, 2.0**53 + 2)]), np.full(20, 2.0**53 + 2)),
    (np.array([-0.0, 0.0, 0.0]), np.array([0.0, -0.0])),  # signed zeros compare equal
    (np.array([-5.0, 100.0]), np.array([1.0, 2.0, 3.0])),  # keys before and after every y
    (np.array([], dtype=float), np.array([1.0, 2.0])),
    (np.array([1.0, 2.0]), np.array([], dtype=float)),
]


@pytest.mark.parametrize("case", range(len(HARD_VALUES)))
def test_the_merge_count_equals_searchsorted_with_ties_and_large_identical_values(case: int) -> None:
    keys, ys = HARD_VALUES[case]
    assert list(stats._below(ys, keys)) == list(np.searchsorted(ys, keys, "left"))


def test_the_merge_count_equals_searchsorted_on_tied_integers_of_ten_thousand() -> None:
    keys = np.sort(RNG.integers(0, 50, 10_000).astype(float))
    ys = np.sort(RNG.integers(0, 50, 9_000).astype(float))
    assert np.array_equal(stats._below(ys, keys), np.searchsorted(ys, keys, "left"))


def test_order_statistics_of_large_identical_and_tied_values_equal_brute_force() -> None:
    cases = [
        (np.full(60, 1e300), np.full(70, 1e300)),  # every difference is 0
        (np.sort(np.r_[np.full(40, 1e15), np.full(40, 1e15 + 2)]), np.full(50, 1e15)),
        (np.sort(RNG.integers(0, 3, 300).astype(float) * 1e12), np.sort(RNG.integers(0, 3, 250).astype(float) * 1e12)),
    ]
    for x, y in cases:
        every = np.sort((x[:, None] - y[None, :]).ravel())
        ks = sorted({1, len(every) // 4, len(every) // 2, len(every) // 2 + 1, len(every)})
        assert stats.order_statistics(x, y, ks) == [float(every[k - 1]) for k in ks]
        u, p = stats.mann_whitney(x, y, "greater")
        if len(np.unique(np.r_[x, y])) > 1:  # scipy's p is undefined when every value ties
            want = mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True)
            assert u == pytest.approx(float(want.statistic)) and p == pytest.approx(float(want.pvalue), rel=1e-9)


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_the_medians_reported_equal_numpys(sample: int) -> None:
    for a in SAMPLES[sample]:
        for cut in (a, a[:-1]):  # an even and an odd count
            assert stats._sorted_median(np.sort(cut)) == float(np.median(cut))


# the compiled search (canary/_kernels.py): Newton steps from probes, merges walked from the nearest
# probe, rows reused from call to call; heavy ties leave it no density to follow
TIED_AND_UNEQUAL = [
    (RNG.integers(0, 2, 900).astype(float), RNG.integers(0, 2, 700).astype(float)),  # 0/1 outcomes
    (RNG.integers(5, 40, 1200).astype(float), RNG.integers(5, 45, 800).astype(float)),  # integer latencies
    (np.round(RNG.lognormal(3, 0.5, 1500)), np.round(RNG.lognormal(3.1, 0.5, 400))),  # whole ms, unequal
    (RNG.lognormal(3, 0.4, 2000), RNG.lognormal(3, 0.4, 90)),  # continuous, 22x unequal
    (RNG.lognormal(3, 0.4, 60), RNG.lognormal(3.2, 0.4, 1700)),  # and the other way round
]


@pytest.mark.parametrize("case", range(len(TIED_AND_UNEQUAL)))
def test_the_compiled_search_equals_brute_force_on_heavy_ties_and_unequal_sizes(case: int) -> None:
    x, y = (np.sort(a) for a in TIED_AND_UNEQUAL[case])
    every = np.sort((x[:, None] - y[None, :]).ravel())
    total = len(every)
    # the interval's ks, the median's two, a cluster of close ks around the middle (one first probe,
    # then Newton steps), and a spread of others
    ks = sorted({1, total // 100, total // 3, total // 2 - 500, total // 2 - 1, total // 2, total // 2 + 1,
                 total // 2 + 500, total - total // 3, total - 1, total} - {0})
    assert stats.order_statistics(x, y, ks) == [float(every[k - 1]) for k in ks]
    shift, lower, upper = stats.hodges_lehmann(x, y, 0.98)
    assert shift == float(np.median(every))
    got = stats.compare(x, y, direction="either", min_samples=10)
    assert (got.shift, got.lower, got.upper) == (shift, lower, upper)


def test_judging_reuses_the_merge_mann_whitney_made_and_gets_the_same_answers() -> None:
    # unshifted samples: the probe at d = 0 (U's merge) is near the interval and replaces its first probe
    x, y = RNG.normal(100, 10, 3000), RNG.normal(100, 10, 2500)
    got = stats.compare(x, y, direction="either")
    assert (got.u, got.p_value) == stats.mann_whitney(x, y, "two-sided")
    assert (got.shift, got.lower, got.upper) == stats.hodges_lehmann(x, y, 0.98)
    sx, sy = np.sort(x)[::5], np.sort(y)[::5]  # brute force on a strided subsample: the same path, smaller
    every = np.sort((sx[:, None] - sy[None, :]).ravel())
    small = stats.compare(sx, sy, direction="either")
    assert small.lower <= small.shift <= small.upper
    assert small.shift == float(np.median(every))


def test_judging_in_threads_at_once_gives_each_its_own_answer() -> None:
    from concurrent.futures import ThreadPoolExecutor

    # each thread has its own rows to reuse: concurrent judgements of different sizes must not mix
    pairs = [(RNG.lognormal(3, 0.4, 500 + 300 * i), RNG.lognormal(3.05, 0.4, 400 + 200 * i)) for i in range(6)]
    want = [stats.compare(c, b, direction="either") for c, b in pairs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for _ in range(3):
            assert list(pool.map(lambda p: stats.compare(p[0], p[1], direction="either"), pairs)) == want

    # compare_all (what an analysis calls) runs them on its own pool: the same answers, in order
    jobs = [stats.Job(c, b, direction="either") for c, b in pairs] + [stats.Job([1.0], [2.0])]
    assert stats.compare_all(jobs) == [*want, stats.compare([1.0], [2.0])]
    assert stats.compare_all(jobs, workers=1) == stats.compare_all(jobs)


@pytest.mark.slow
def test_without_a_writable_cache_location_the_kernels_compile_uncached_and_judge_the_same(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    # a read-only install with no writable cache directory: numba refuses cache=True ("no locator
    # available"); the kernels must fall back to compiling in the process, not fail the judgement
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator",
           "NUMBA_CACHE_DIR": str(blocker / "numba")}
    x, y = RNG.integers(0, 30, 300).astype(float), RNG.lognormal(2.5, 0.6, 250)
    script = ("import json, sys\nfrom opsbook.canary import stats\nx, y = json.loads(sys.stdin.read())\n"
              "print(json.dumps(stats.compare(x, y, direction='either').to_dict()))")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps([x.tolist(), y.tolist()]),
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == stats.compare(x, y, direction="either").to_dict()
    assert not (blocker / "numba").exists()
