"""Start-up: wall and CPU time of whole commands, each a fresh process, median of --runs.

    .venv/bin/python bench/startup.py [--python PY ...] [--ref-python PY] [--runs 7]

What is measured (launch to exit of one process each):
- `oxbot --version` (`PY -m oxbot.cli.main --version`);
- the cockpit's import path up to its first screen: `PY -c "import oxbot.cli.tui, oxbot.tui.app"`
  (Textual, the screens and widgets; not the in-process engine, which `oxbot` builds once the
  first frame is drawn, nor the drawing itself: bench/first_screen.py times that);
- `oxbot backtest --strategy sma_cross --param fast=10 --param slow=30 --data CSV --no-risk
  --json`, against the reference script of bench/backtest_speed.py (read the CSV, run
  backtesting.py) as a whole process, with its imports, in the reference venv.
--python picks the oxbot interpreter; give it several times (another checkout's venv gives the
"before" figures) and the runs alternate between them, so a shared machine's load falls on each
alike. PYTHONDONTWRITEBYTECODE is removed from the environment (a user's Python writes its .pyc
files; one unmeasured run of each command writes them here).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from backtest_speed import REF_VENV, REFERENCE  # noqa: E402

_CSV = "shared/data/ohlcv/binance_BTC-USDT_1h_2017-2022.csv"
# beside the checkout (../shared), else the workplace's copy: a worktree may sit deeper
DATA = next(
    (p for p in (BENCH.parent.parent / _CSV, Path("/work") / _CSV) if p.exists()),
    BENCH.parent.parent / _CSV,
)


CPU: dict[tuple[str, ...], list[float]] = {}  # argv -> CPU seconds (user + system) per run


def once(argv: list[str]) -> float:
    """Wall seconds of one run; its CPU seconds (user + system, steadier on a shared machine)
    go to CPU[argv]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(tuple(argv), []).append(cpu)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter(s) with oxbot installed")
    ap.add_argument("--ref-python", default=str(REF_VENV / "bin/python"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    pythons, n = args.python or [sys.executable], args.runs
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}"
        f"; runs={n}; load {os.getloadavg()[0]:.2f}"
    )

    def commands(py: str) -> dict[str, list[str]]:
        bt = [py, "-m", "oxbot.cli.main", "backtest", "--strategy", "sma_cross"]
        bt += ["--param", "fast=10", "--param", "slow=30", "--data", str(args.data), "--no-risk"]
        return {
            "version": [py, "-m", "oxbot.cli.main", "--version"],
            "cockpit": [py, "-c", "import oxbot.cli.tui, oxbot.tui.app"],
            "backtest": [*bt, "--json"],
        }

    ref = [args.ref_python, "-c", REFERENCE, str(args.data), "1", "0.001"]
    times: dict[str, dict[str, list[float]]] = {py: {} for py in pythons}
    for py in pythons:  # writes the .pyc files
        for argv in commands(py).values():
            once(argv)
    once(ref)
    CPU.clear()  # the warm-up runs above wrote the .pyc files: not counted
    refs = []
    for _ in range(n):
        for py in pythons:
            for what, argv in commands(py).items():
                times[py].setdefault(what, []).append(once(argv))
        refs.append(once(ref))
    r = statistics.median(refs)
    r_cpu = statistics.median(CPU[tuple(ref)])
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print("wall time, median s (CPU time: user + system of the process, median s)")
    print(
        "| python | oxbot --version s | cockpit import path s | backtest sma_cross s "
        "| reference s | ratio (target <= 0.5) | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for py in pythons:
        med = {k: statistics.median(v) for k, v in times[py].items()}
        cpu = {k: statistics.median(CPU[tuple(a)]) for k, a in commands(py).items()}
        print(
            f"| {py} | {med['version']:.3f} ({cpu['version']:.3f}) "
            f"| {med['cockpit']:.3f} ({cpu['cockpit']:.3f}) "
            f"| {med['backtest']:.3f} ({cpu['backtest']:.3f}) | {r:.3f} ({r_cpu:.3f}) "
            f"| {med['backtest'] / r:.3f} | {cpu['backtest'] / r_cpu:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
