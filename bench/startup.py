"""Start-up: wall time of whole commands, each a fresh process, median of --runs.

    .venv/bin/python bench/startup.py [--python PY] [--ref-python PY] [--runs 7]

What is measured (launch to exit of one process each):
- `oxbot --version` (`PY -m oxbot.cli.main --version`);
- the cockpit's import path up to its first screen: `PY -c "import oxbot.cli.tui, oxbot.tui.app"`
  (Textual, the screens and widgets; not the in-process engine, which `oxbot` opens before the
  first frame so a locked database is reported before any UI, nor the drawing itself);
- `oxbot backtest --strategy sma_cross --param fast=10 --param slow=30 --data CSV --no-risk
  --json`, against the reference script of bench/backtest_speed.py (read the CSV, run
  backtesting.py) as a whole process, with its imports, in the reference venv.
--python picks the oxbot interpreter (another checkout's venv gives the "before" figures).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from backtest_speed import REF_VENV, REFERENCE  # noqa: E402

DATA = BENCH.parent.parent / "shared/data/ohlcv/binance_BTC-USDT_1h_2017-2022.csv"


def wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter with oxbot installed")
    ap.add_argument("--ref-python", default=str(REF_VENV / "bin/python"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    py, n = args.python, args.runs
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}"
        f"; runs={n}; python={py}"
    )
    version = wall([py, "-m", "oxbot.cli.main", "--version"], n)
    cockpit = wall([py, "-c", "import oxbot.cli.tui, oxbot.tui.app"], n)
    bt = [py, "-m", "oxbot.cli.main", "backtest", "--strategy", "sma_cross"]
    bt += ["--param", "fast=10", "--param", "slow=30", "--data", str(args.data), "--no-risk"]
    ours = wall([*bt, "--json"], n)
    ref = wall([args.ref_python, "-c", REFERENCE, str(args.data), "1", "0.001"], n)
    print("| what | median s |")
    print("|---|---:|")
    print(f"| oxbot --version | {version:.3f} |")
    print(f"| cockpit import path up to the first screen | {cockpit:.3f} |")
    print(f"| oxbot backtest sma_cross, whole command | {ours:.3f} |")
    print(f"| reference script (backtesting.py), whole process | {ref:.3f} |")
    print(f"backtest ratio oxbot/reference: {ours / ref:.3f} (target <= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
