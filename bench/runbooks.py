"""Runbook runner speed and memory, against the targets of issue 13.

    uv run python bench/runbooks.py                 # SQLite store in a temp directory
    uv run python bench/runbooks.py --steps 200 --gib 0.25
    uv run python bench/runbooks.py --store postgresql://postgres@127.0.0.1:5432/opsbook_bench  # an existing DB

What it measures:

1. Overhead per step: a runbook of --steps ``sh true`` steps run through the runner (every step
   rendered, recorded as a row, its output bounded, its heartbeat thread started) against the
   same number of bare ``/bin/sh -c true`` subprocess runs. The runner's per-step time is the
   time between consecutive step records; the overhead is the difference of the medians.
   Target: < 20 ms.
2. Memory under output: one step printing --gib GiB (``head -c`` of /dev/zero, as text of
   zeros would be) run by a runner in a child process; the child reports its own peak RSS
   (resource.getrusage RUSAGE_SELF: the runner, not the shell it starts). Target: < 100 MB.
3. Rendering: the record of the --steps-step run as Markdown (render/runbook.py), median of 20.
   Target: < 200 ms.

Prints each figure next to its target with PASS/FAIL; exit 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from opsbook.config.load import load_config
from opsbook.ops import runbook as ops
from opsbook.plugins import PLUGINS
from opsbook.runbooks.model import Runbook, Step
from opsbook.store import Store

work, url, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cfg = load_config(work / "opsbook.yaml", PLUGINS, text="version: 1\nrunbooks: {step_timeout: 10m}\n")
step = Step("flood", "sh", f"head -c {size} /dev/zero | tr '\\0' 'x'\n", 1)
book = Runbook("flood", work / "flood.md", "flood", "0" * 64, items=(step,))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
with Store.open(url) as store:
    rec = ops.run(store, cfg, book, {}, "bench")
took = time.perf_counter() - t
s = rec.steps[-1]
print(json.dumps({"status": rec.run.status, "output_bytes": s.output_bytes, "kept": len(s.output),
                  "rss_before_kb": before, "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": took}))
"""


def line(label: str, figure: str, target: str, ok: bool) -> bool:
    print(f"  {label:44}{figure:>14}   target {target:>10}   {'PASS' if ok else 'FAIL'}")
    return ok


def overhead(work: Path, url: str, n: int) -> tuple[float, float, object]:
    """(median ms per step through the runner, median ms per bare subprocess, the record)."""
    from opsbook.config.load import load_config
    from opsbook.ops import runbook as ops
    from opsbook.plugins import PLUGINS
    from opsbook.runbooks.model import Runbook, Step
    from opsbook.store import Store

    cfg = load_config(work / "opsbook.yaml", PLUGINS, text="version: 1\n")
    book = Runbook("overhead", work / "overhead.md", "overhead", "0" * 64,
                   items=tuple(Step(f"s{i}", "sh", "true\n", i + 1) for i in range(n)))
    ends: list[float] = []
    bare: list[float] = []

    def sh_true(times: int) -> None:  # half before and half after the runner: the box's load hits both alike
        for _ in range(times):
            t = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", "true"], check=True)
            bare.append(time.perf_counter() - t)

    sh_true(n // 2)
    with Store.open(url) as store:
        ops.run(store, cfg, Runbook("warm", work / "w.md", "warm", "1" * 64, items=(Step("w", "sh", "true\n", 1),)),
                {}, "bench")
        start = time.perf_counter()
        rec = ops.run(store, cfg, book, {}, "bench",
                      hooks=ops.Hooks(on_step=lambda row: ends.append(time.perf_counter()) if row.status != "running"
                                      else None))
    assert rec.run.status == "succeeded", rec.run.error
    per_step = [b - a for a, b in zip([start, *ends[:-1]], ends, strict=True)]
    sh_true(n - n // 2)
    return statistics.median(per_step) * 1000, statistics.median(bare) * 1000, rec


def flood(work: Path, url: str, size: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(work), url, str(size)], check=True, capture_output=True,
                         text=True, timeout=1800)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--gib", type=float, default=1.0, help="GiB of output of the flood step")
    ap.add_argument("--store", default=None, help="a store URL (default: SQLite in a temp directory)")
    args = ap.parse_args()
    from opsbook.render.runbook import to_markdown

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = args.store or f"sqlite:///{work / 'bench.db'}"
        runner_ms, bare_ms, rec = overhead(work, url, args.steps)
        big = flood(work, url, int(args.gib * 2**30))
        times = []
        for _ in range(20):
            t = time.perf_counter()
            md = to_markdown(rec.run, rec.steps, rec.approvals)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t)
    render_ms = statistics.median(times) * 1000
    peak_mb = big["rss_peak_kb"] / 1024
    print(f"runbook runner, {args.steps} steps, store {url.split(':', 1)[0]}")
    print(f"  {'':44}{'measured':>14}   {'':7}{'':>10}")
    print(f"  {'per step through the runner (median)':44}{runner_ms:>12.2f}ms")
    print(f"  {'bare /bin/sh -c true (median)':44}{bare_ms:>12.2f}ms")
    ok = line("overhead per step (difference)", f"{runner_ms - bare_ms:.2f}ms", "< 20 ms", runner_ms - bare_ms < 20)
    flood_label = f"flood step: {big['output_bytes'] / 2**30:.2f} GiB in {big['seconds']:.1f}s, kept"
    print(f"  {flood_label:44}"
          f"{big['kept'] / 1024:>12.0f}KB   (status {big['status']}; RSS before the run "
          f"{big['rss_before_kb'] / 1024:.0f} MB)")
    ok &= line("runner peak RSS under that output", f"{peak_mb:.0f}MB", "< 100 MB", peak_mb < 100)
    ok &= line(f"render a {args.steps}-step record as Markdown (median)", f"{render_ms:.1f}ms", "< 200 ms",
               render_ms < 200)
    print(f"  ({len(md):,} characters of Markdown)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
