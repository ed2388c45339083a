"""`env check` of 500 variables across 4 environments (target < 0.5 s), beside a naive peer.

    uv run --frozen python bench/envcheck.py [--vars 500] [--envs 4] [--rounds 5]

Writes a contract of N variables of every type (url, postgres_dsn, int, duration, bool, enum,
regex, secret with min_length/min_entropy, differs_between / same_in) and one dotenv file per
environment into a temp dir (removed at the end), then times, median of --rounds:

- `opsbook in-process`: load the config (N variables) and judge every environment: 4 dotenv
  reads, every type rule, HMAC fingerprints and the cross-environment rules (= `env matrix`).
- `opsbook env matrix (CLI)`: the same as a user runs it, interpreter start-up included.
- `naive peer`: python-dotenv load of each file and a per-variable `re.match` loop over the
  same patterns (no types beyond regex, no fingerprints, no relations): the floor.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPES = [
    ("url", "{type: url, schemes: [https], required_in: all}", "https://svc{i}.{env}.example.com/path"),
    ("postgres_dsn", "{type: postgres_dsn, required_in: all, differs_between: [ENVS]}",
     "postgresql://app:pw{i}{env}@db-{env}.internal:5432/app{i}"),
    ("int", "{type: int, min: 1, max: 100000, required_in: all, same_in: [ENVS]}", "{i}"),
    ("duration", "{type: duration, required_in: all}", "{i}s"),
    ("bool", "{type: bool, required_in: all}", "true"),
    ("enum", "{type: enum, values: [debug, info, warn, error], required_in: all}", "info"),
    ("regex", "{type: regex, pattern: \"price_[a-z]+_[0-9]+\", required_in: all}", "price_{env}_{i}"),
    ("secret", "{type: secret, min_length: 32, min_entropy: 100, required_in: all, differs_between: [ENVS]}",
     "S{i}-{env}-Qm7vT2xLp9sR4wZk8yN3bF6hJ1cD5gA0"),
]
NAIVE = {"url": r"https://\S+", "postgres_dsn": r"postgres(ql)?://\S+", "int": r"\d+", "duration": r"\d+[smhd]?",
         "bool": r"true|false", "enum": r"debug|info|warn|error", "regex": r"price_[a-z]+_[0-9]+", "secret": r".{32,}"}


def write(root: Path, n: int, envs: list[str]) -> Path:
    lines = ["env_contract:", "  bench:", f"    environments: [{', '.join(envs)}]", "    sources:"]
    lines += [f"      {e}: {{dotenv: {e}.env}}" for e in envs]
    lines.append("    variables:")
    for i in range(n):
        t, spec, _ = TYPES[i % len(TYPES)]
        lines.append(f"      VAR_{i:04d}_{t.upper()}: {spec.replace('ENVS', ', '.join(envs))}")
    (root / "opsbook.yaml").write_text("\n".join(lines) + "\n")
    for e in envs:
        body = [f"VAR_{i:04d}_{TYPES[i % len(TYPES)][0].upper()}={TYPES[i % len(TYPES)][2].format(i=i, env=e)}"
                for i in range(n)]
        (root / f"{e}.env").write_text("\n".join(body) + "\n")
    return root / "opsbook.yaml"


def in_process(cfg_path: Path, envs: list[str]) -> tuple[float, int, int, float]:
    from opsbook.envcontract.run import evaluate
    from opsbook.ops.load import load

    t0, c0 = time.perf_counter(), time.process_time()
    cfg = load(cfg_path)
    report = evaluate(cfg.model, cfg.base_dir, None, envs)
    return (time.perf_counter() - t0, len(report.variables) * len(envs), len(report.violations),
            time.process_time() - c0)


def naive(root: Path, n: int, envs: list[str]) -> tuple[float, int, int, float]:
    from dotenv import dotenv_values

    t0, c0 = time.perf_counter(), time.process_time()
    checked = bad = 0
    for e in envs:
        values = dotenv_values(root / f"{e}.env")
        for i in range(n):
            t = TYPES[i % len(TYPES)][0]
            v = values.get(f"VAR_{i:04d}_{t.upper()}")
            checked += 1
            if v is None or not re.match(NAIVE[t], v):
                bad += 1
    return time.perf_counter() - t0, checked, bad, time.process_time() - c0


def cli(cfg_path: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "opsbook", "env", "matrix", "--json", "-c", str(cfg_path)],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"env matrix exited {p.returncode}: {p.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vars", type=int, default=500)
    ap.add_argument("--envs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    envs = ["local", "staging", "production", "preview"][: a.envs] + [f"env{k}" for k in range(4, a.envs)]
    with tempfile.TemporaryDirectory(prefix="opsbook-envbench-") as tmp:
        root = Path(tmp)
        cfg = write(root, a.vars, envs)
        os.chdir(root)
        ours = [in_process(cfg, envs) for _ in range(a.rounds)]
        peer = [naive(root, a.vars, envs) for _ in range(a.rounds)]
        cli_t = [cli(cfg) for _ in range(min(a.rounds, 3))]
    med = statistics.median(r[0] for r in ours)
    cpu = statistics.median(r[3] for r in ours)
    print(f"{a.vars} variables x {len(envs)} environments = {ours[0][1]} values, median of {a.rounds} rounds "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  {'row':<28} {'wall':>10} {'cpu':>10} {'values':>8} {'violations':>11}")
    print(f"  {'opsbook in-process':<28} {med * 1000:>8.1f}ms {cpu * 1000:>8.1f}ms {ours[0][1]:>8} {ours[0][2]:>11}")
    print(f"  {'opsbook env matrix (CLI)':<28} {statistics.median(cli_t) * 1000:>8.1f}ms {'':>10} {ours[0][1]:>8}")
    pm, pc = statistics.median(r[0] for r in peer), statistics.median(r[3] for r in peer)
    print(f"  {'naive dotenv + regex loop':<28} {pm * 1000:>8.1f}ms {pc * 1000:>8.1f}ms {peer[0][1]:>8} "
          f"{peer[0][2]:>11}")
    ok = med < 0.5 and ours[0][2] == 0
    print(f"env check of {a.vars} variables across {len(envs)} environments: {med:.3f} s (target < 0.5 s) "
          f"{'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
