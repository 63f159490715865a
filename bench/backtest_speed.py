"""Backtest speed: oxbot vs backtesting.py (kernc) on the same sma_cross(10, 30) backtest.

    /work/venv/bin/python bench/backtest_speed.py [--runs 5] [--data-dir ../shared/data/ohlcv]

The reference library lives in its own venv, bench/.venv-ref (created here when missing), never
in the project's dependencies. Both sides are timed on the same scope: read the CSV and run the
backtest (imports and interpreter start excluded), median of --runs runs each.

Making backtesting.py run the issue's semantics faithfully:
- it buys whole units, so prices are scaled by 1e-8: its integer units are then exactly our
  units rounded down to 1e-8 (units = cash / (open x (1 + fee))); its all-in default size is
  1 - machine epsilon;
- its `finalize_trades` closes at the next bar's open, so one synthetic bar whose open is the
  last close is appended, and the strategy does not act on the original last bar (a signal
  there has no next open to fill at);
- the cross is decided on the unscaled closes with the issue's strict rule (an exact tie is
  not a cross).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REF_VENV = BENCH / ".venv-ref"
FILES = ("binance_BTC-USDT_1h_2017-2022.csv", "binance_BTC-USDT_5m.csv")

REFERENCE = r"""
import json, sys, time, statistics, warnings
import numpy as np, pandas as pd
from backtesting import Backtest, Strategy
warnings.filterwarnings("ignore")
SCALE = 1e-8
path, runs, fee = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def side_of(close, fast, slow):
    c = pd.Series(close)
    d = np.array(c.rolling(fast).mean() - c.rolling(slow).mean())
    s = c.rolling(slow).mean().to_numpy()
    d[np.abs(d) <= 1e-9 * np.abs(s)] = 0.0  # an exact tie is not a cross
    return np.sign(d)

class SmaCross(Strategy):
    last = 0
    def init(self):
        self.side = self.I(side_of, self.data.RawClose, 10, 30, name="side")
    def next(self):
        if len(self.data) - 1 >= self.last:  # original last bar and the synthetic one
            return
        prev, now = self.side[-2], self.side[-1]
        if not self.position and prev < 0 and now > 0:
            self.buy()
        elif self.position and prev > 0 and now < 0:
            self.position.close()

def once():
    t = time.perf_counter()
    raw = pd.read_csv(path)
    n = len(raw)
    step = int(np.bincount(np.diff(raw.timestamp.to_numpy()) // 1000).argmax()) * 1000
    last = raw.iloc[-1]
    extra = {"timestamp": int(last.timestamp) + step, "open": last.close, "high": last.close,
             "low": last.close, "close": last.close, "volume": 0.0}
    raw = pd.concat([raw, pd.DataFrame([extra])], ignore_index=True)
    v = {c: raw[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    df = pd.DataFrame({
        "Open": v["open"] * SCALE, "High": v["high"] * SCALE, "Low": v["low"] * SCALE,
        "Close": v["close"] * SCALE, "Volume": v["volume"], "RawClose": v["close"],
    }, index=pd.to_datetime(raw.timestamp.to_numpy(), unit="ms"))
    SmaCross.last = n - 1
    bt = Backtest(df, SmaCross, cash=10_000, commission=fee, finalize_trades=True)
    stats = bt.run()
    return time.perf_counter() - t, int(stats["# Trades"]), float(stats["Equity Final [$]"])

results = [once() for _ in range(runs)]
print(json.dumps({"times": [r[0] for r in results], "trades": results[0][1],
                  "final_equity": results[0][2]}))
"""


def ensure_ref_venv() -> Path:
    py = REF_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {REF_VENV} with backtesting.py ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "backtesting"], check=True)
    return py


def run_reference(py: Path, path: Path, runs: int, fee: str) -> dict:
    out = subprocess.run(
        [str(py), "-c", REFERENCE, str(path), str(runs), fee],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_oxbot(path: Path, runs: int, fee: str) -> dict:
    from oxbot.engine.backtest import BacktestConfig, run_backtest
    from oxbot.engine.strategies import build_strategy

    try:  # as `oxbot backtest` reads it for a columnar strategy (numpy, no pandas)
        from oxbot.engine.market.csvdata import load_columns as load_csv
    except ImportError:  # an older checkout (bench copied to /tmp to measure "before")
        from oxbot.engine.market.csvdata import load_csv

    strat = build_strategy("sma_cross", {"fast": 10, "slow": 30})
    config = BacktestConfig(strat, fee_rate=Decimal(fee), use_risk=False)
    run_backtest(load_csv(path), config)  # warm-up: pandas-ta's lazy import is not timed
    times, metrics = [], {}
    for _ in range(runs):
        t = time.perf_counter()
        metrics = run_backtest(load_csv(path), config).metrics
        times.append(time.perf_counter() - t)
    return {"times": times, "trades": metrics["trades"], "final_equity": metrics["final_equity"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fee", default="0.001")
    ap.add_argument("--data-dir", type=Path, default=BENCH.parent.parent / "shared/data/ohlcv")
    args = ap.parse_args()
    py = ensure_ref_venv()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}"
        f"; runs={args.runs}; fee={args.fee}"
    )
    print(
        "| file | bars | oxbot s (median) | backtesting.py s (median) | ratio | trades oxbot/ref"
        " | final equity oxbot / ref | diff % |"
    )
    print("|---|---:|---:|---:|---:|---|---|---:|")
    worst = 0.0
    for name in FILES:
        path = args.data_dir / name
        if not path.exists():
            print(f"| {name} | missing: {path} | | | | | | |")
            continue
        ours = run_oxbot(path, args.runs, args.fee)
        ref = run_reference(py, path, args.runs, args.fee)
        mo, mr = statistics.median(ours["times"]), statistics.median(ref["times"])
        diff = (ours["final_equity"] / ref["final_equity"] - 1) * 100
        bars = sum(1 for _ in path.open()) - 1
        worst = max(worst, mo / mr)
        print(
            f"| {name} | {bars:,} | {mo:.4f} | {mr:.3f} | {mo / mr:.4f} | "
            f"{ours['trades']} / {ref['trades']} | {ours['final_equity']:,.2f} / "
            f"{ref['final_equity']:,.2f} | {diff:+.5f} |",
            flush=True,
        )
    print(f"worst ratio oxbot/reference: {worst:.4f} (target <= 0.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
