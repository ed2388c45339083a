"""Canary judging speed: 50 metrics x (canary, baseline) x 10,000 samples, and one analysis
against two local sample services.

    uv run python bench/canary.py                    # 50 metrics, 10,000 samples a side, 3 rounds
    uv run python bench/canary.py --metrics 10 --samples 2000 --no-services

What it does:

1. Makes --metrics pairs of --samples samples a side (lognormal latencies; every fifth canary
   15 % slower, so some metrics fail) and judges them all with opsbook.canary.stats.compare_all
   (what an analysis calls: stats.compare for each metric, on one thread a CPU):
   Mann-Whitney U + the exact Hodges-Lehmann interval (three order statistics of the m x n
   pairwise differences, found without building them: Newton steps on the count of differences
   <= d, each count a merge compiled with numba). Median of --rounds; target < 100 ms (wall). First
   prints the one-time cost of the process's first judgement (imports numpy, scipy and numba, and
   loads the compiled merges from numba's cache, or compiles them when there is none: the first
   run after an install or a change to canary/_kernels.py), which the timing leaves out.
2. The peer, the naive approach: scipy.stats.mannwhitneyu plus a brute-force Hodges-Lehmann
   (np.subtract.outer, then the order statistics with np.partition). The full 10^8-difference
   product is 800 MB a metric, so the peer runs on an evenly strided subsample of --peer-samples
   a side (printed), and its time is also scaled to the full size (linear in m x n: a lower bound
   for it). On that subsample opsbook's answer is compared with the brute force (it must be equal).
3. Starts two sample services on 127.0.0.1 and runs one analysis (a check metric, --interval,
   --count measurements): prints each measurement's lag behind its due time and the whole
   analysis' time against (count - 1) x interval: an interval's measurements take the interval,
   not more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from opsbook.canary import stats


def samples(metrics: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(metrics):
        base = rng.lognormal(3.0, 0.4, n)
        can = rng.lognormal(3.0, 0.4, n) * (1.15 if i % 5 == 0 else 1.0)
        out.append((can, base))
    return out


def ours(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, list[stats.Comparison]]:
    t = time.perf_counter()
    # what an analysis does with its metrics' samples (canary/analysis.py): all judged at once
    got = stats.compare_all([stats.Job(c, b, direction="increase", tolerance=0.1) for c, b in pairs])
    return time.perf_counter() - t, got


def cpu_of(fn: Callable[..., object], *args: object) -> float:
    """CPU seconds a call takes (on a shared machine less inflated by other load than wall time)."""
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def peer(pairs: list[tuple[np.ndarray, np.ndarray]],
         confidence: float = 0.98) -> tuple[float, list[tuple[float, float, float, float, float]]]:
    import math

    from scipy.special import ndtri
    from scipy.stats import mannwhitneyu

    t = time.perf_counter()
    out = []
    for c, b in pairs:
        mw = mannwhitneyu(c, b, alternative="greater", method="asymptotic")
        d = np.subtract.outer(c, b).ravel()
        total = len(d)
        z = float(ndtri(1 - (1 - confidence) / 2))
        k = min(max(math.floor(total / 2 - z * math.sqrt(total * (len(c) + len(b) + 1) / 12)), 1), (total + 1) // 2)
        idx = sorted({k - 1, total - k, (total - 1) // 2, total // 2})
        part = np.partition(d, idx)
        median = (part[(total - 1) // 2] + part[total // 2]) / 2
        out.append((float(mw.statistic), float(mw.pvalue), float(median), float(part[k - 1]), float(part[total - k])))
    return time.perf_counter() - t, out


def bench_judging(metrics: int, n: int, peer_n: int, rounds: int) -> bool:
    pairs = samples(metrics, n)
    t = time.perf_counter()
    import numba  # noqa: F401 - its import timed apart from the kernels' cache load or compile

    t_numba = time.perf_counter() - t
    stats.compare(pairs[0][0][:100], pairs[0][1][:100])  # the one-time cost, outside the timing
    t_first = time.perf_counter() - t
    from opsbook.canary import _kernels

    compiled = sum(sum(f.stats.cache_misses.values()) for f in (_kernels.below, _kernels.merge_below))
    how = "compiled (no cache yet)" if compiled else "loaded from numba's cache"
    print(f"one-time: a process's first judgement takes {t_first * 1000:,.0f} ms: "
          f"import numba {t_numba * 1000:,.0f} ms, then import scipy and the kernels {how} "
          f"{(t_first - t_numba) * 1000:,.0f} ms")
    times, cpu_times = [], []
    for _ in range(rounds):
        cpu = time.process_time()
        took, got = ours(pairs)
        cpu_times.append(time.process_time() - cpu)
        times.append(took)
    fails = sum(c.verdict == "fail" for c in got)
    step = max(1, n // peer_n)
    sub = [(np.sort(c)[::step], np.sort(b)[::step]) for c, b in pairs]
    m_sub = len(sub[0][0])
    peer_times = []
    for _ in range(rounds):
        took, want = peer(sub)
        peer_times.append(took)
    _, mine = ours(sub)
    same = all((c.u, c.shift, c.lower, c.upper) == (w[0], w[2], w[3], w[4]) and abs(c.p_value - w[1]) < 1e-12
               for c, w in zip(mine, want, strict=True))
    t_ours, t_peer = statistics.median(times), statistics.median(peer_times)
    cpu_ours, cpu_peer = statistics.median(cpu_times), cpu_of(peer, sub)  # ours: the median of the rounds
    scaled = t_peer * (n * n) / (m_sub * m_sub)
    print(f"judging {metrics} metrics x 2 x {n:,} samples "
          f"({metrics * n * n / 1e9:g} G pairwise differences, none built)")
    print(f"  {'':44} {'samples a side':>15} {'time':>12} {'per metric':>12}")
    print(f"  {'opsbook (U + exact HL interval)':44} {n:>15,} {t_ours * 1000:>9.1f} ms "
          f"{t_ours / metrics * 1000:>9.2f} ms"
          f"   target < 100 ms: {'met' if t_ours < 0.1 else 'NOT met'} (wall; CPU {cpu_ours * 1000:.0f} ms "
          f"over {min(metrics, os.cpu_count() or 1, 8)} judging threads)")
    print(f"  {'peer: scipy mannwhitneyu + brute-force HL':44} {m_sub:>15,} {t_peer * 1000:>9.1f} ms "
          f"{t_peer / metrics * 1000:>9.2f} ms")
    print(f"  {'peer scaled to the full size (x m*n)':44} {n:>15,} {scaled * 1000:>9.0f} ms "
          f"{scaled / metrics * 1000:>9.1f} ms   (~{8 * n * n / 1e6:,.0f} MB of differences a metric)")
    print(f"  ratio: opsbook at {n:,} a side is {scaled / t_ours:,.0f}x faster than the scaled peer; "
          f"opsbook on the peer's {m_sub:,}: {ours(sub)[0] * 1000:.1f} ms vs {t_peer * 1000:.1f} ms")
    print(f"  CPU time: opsbook {cpu_ours * 1000:.0f} ms at {n:,} a side, peer {cpu_peer * 1000:.0f} ms at {m_sub:,} "
          f"a side; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {fails} of {metrics} metrics fail (every fifth canary is 15 % slower); "
          f"on the subsample opsbook equals the brute force: {'yes' if same else 'NO'}")
    return same


def bench_interval(interval: float, count: int) -> bool:
    import socket

    from opsbook.canary.analysis import Taken, analyse
    from opsbook.canary.providers.base import MeasureContext, Target
    from opsbook.canary.providers.registry import PROVIDERS
    from opsbook.config.load import load_config
    from opsbook.demo.run import start_service, stop_service
    from opsbook.plugins import PLUGINS

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "a").mkdir()
        (work / "b").mkdir()
        procs = []
        try:
            ports = [free_port(), free_port()]
            procs = [start_service(work / "a", ports[0], ready_after=0),
                     start_service(work / "b", ports[1], ready_after=0)]
            base, can = (f"http://127.0.0.1:{p}" for p in ports)
            text = f"""
checks:
  api-health: {{http: {{url: "http://127.0.0.1:1/health"}}}}
canaries:
  api:
    canary: {can}
    baseline: {base}
    analysis: {{interval: {interval}s, count: {count}}}
    metrics:
      latency: {{provider: check, check: api-health, samples: 10, compare: {{min_samples: 10}}}}
      errors: {{provider: check, check: api-health, value: ok, samples: 10, success_condition: result >= 0.99}}
"""
            cfg = load_config(work / "opsbook.yaml", PLUGINS, text=text)
            spec = cfg.model.canaries["api"]
            ctx = MeasureContext(cfg, Target("canary", can), Target("baseline", base), 10.0)
            targets = {"canary": ctx.canary, "baseline": ctx.baseline}
            lags: list[float] = []
            start = time.monotonic()

            async def measure(name: str, metric: object, role: str) -> list[float]:
                return await PROVIDERS.lookup(metric.provider).measure(metric, targets[role], ctx)  # type: ignore[attr-defined]

            def on_taken(t: Taken) -> None:
                lags.append(time.monotonic() - start - t.offset)

            result = asyncio.run(analyse(spec, measure, clock=time.monotonic, on_taken=on_taken))
        finally:
            for p in procs:
                stop_service(p)
    n = sum(len(t.samples) for t in result.taken)
    span = (count - 1) * interval
    print(f"one analysis against two local sample services: 2 metrics, {count} measurements every {interval:g}s, "
          f"{n} samples in all")
    print(f"  measurement lag behind its due time: median {statistics.median(lags) * 1000:.0f} ms, "
          f"max {max(lags) * 1000:.0f} ms (the interval is {interval * 1000:.0f} ms)")
    print(f"  whole analysis: {result.elapsed:.2f} s for {span:g} s of intervals + the last measurement; "
          f"decision {result.decision}")
    return max(lags) < interval and result.decision == "promote"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", type=int, default=50)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--peer-samples", type=int, default=1_000, help="the brute-force peer's samples a side")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--no-services", action="store_true", help="skip the analysis against local services")
    args = ap.parse_args(argv)
    ok = bench_judging(args.metrics, args.samples, args.peer_samples, args.rounds)
    if not args.no_services:
        ok = bench_interval(args.interval, args.count) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
