"""Sweep speed: 100 parameter sets of sma_cross on the 45k-bar file with --holdout 30%, on every
core (--jobs 2 here) against one (--jobs 1); the median of --runs runs each, and their ratio.

    .venv/bin/python bench/sweep_speed.py [--runs 3] [--data-dir ../shared/data/ohlcv]

Each run is the whole `oxbot backtest ... --sweep ...` command in a fresh process, as a user
times it (interpreter start, imports, loading the CSV, the worker processes' start-up, 100
backtests of the search window and 100 of the held-out window, the table). The grid is
fast=5:50:5 x slow=60:240:20: 10 x 10 sets, none refused by the schema. The risk manager is on
(the backtest's default), so each set runs the per-bar risked simulation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FILE = "binance_BTC-USDT_1h_2017-2022.csv"
GRID = ["--sweep", "fast=5:50:5", "--sweep", "slow=60:240:20"]


def run_once(data: Path, jobs: int, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its worker processes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXBOT_")}
    env["OXBOT_HOME"] = tempfile.mkdtemp(prefix="oxsweep-")
    argv = [sys.executable, "-m", "oxbot.cli.main", "backtest", "--strategy", "sma_cross"]
    argv += ["--data", str(data), *GRID, "--holdout", "30%", "--jobs", str(jobs)]
    argv += ["--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers are reaped: counted
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed: {done.stderr}")
    rows = json.loads(out.read_text())["rows"]
    if len(rows) != 100 or any(r["held_out"] is None for r in rows):
        raise SystemExit(f"expected 100 rows with a held-out result, got {len(rows)}")
    return elapsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", default=str(BENCH.parent.parent / "shared" / "data" / "ohlcv"))
    args = ap.parse_args()
    data = Path(args.data_dir) / FILE
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = Path(tempfile.mkdtemp(prefix="oxsweep-")) / "sweep.json"
    times: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.runs):  # interleaved, so a busy spell hits both sides alike
        for jobs in (2, 1):
            wall, cpu = run_once(data, jobs, out)
            times[jobs].append(wall)
            cpus[jobs].append(cpu)
            print(f"--jobs {jobs}: {wall:.2f} s wall, {cpu:.2f} s CPU", file=sys.stderr)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    best = json.loads(out.read_text())["rows"][0]
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
        f"1-minute load average at the end {load:.1f}"
    )
    print(f"file: {FILE}, 100 parameter sets, --holdout 30%, median of {args.runs}")
    print("| --jobs | wall s (runs) | wall s (median) | CPU s (median) |\n|---:|---|---:|---:|")
    for jobs in (1, 2):
        runs = ", ".join(f"{t:.1f}" for t in times[jobs])
        wall, cpu = statistics.median(times[jobs]), statistics.median(cpus[jobs])
        print(f"| {jobs} | {runs} | {wall:.1f} | {cpu:.1f} |")
    print(f"speed-up with 2 processes: {one / two:.2f}x (one core / two cores)")
    print(
        f"best in-sample: {best['params']}, sharpe {best['in_sample']['sharpe']} in-sample, "
        f"{best['held_out']['sharpe']} held-out"
    )


if __name__ == "__main__":
    main()
