"""symbol_facts CPU time a call on real candles (1h -> 4h, 300-row windows), as an LLM backtest
calls it once per symbol at every decision point. Prints: CPU ms, wall ms a call."""

import time

import pandas as pd

from oxbot.engine.llm.facts import symbol_facts
from oxbot.engine.market.indicators import FULL_SET
from oxbot.engine.market.kernels import compute_fast

CSV = "/work/shared/data/ohlcv/binance_BTC-USDT_1h.csv"
raw = pd.read_csv(CSV, nrows=600).rename(columns={"timestamp": "ts"})
df = compute_fast(raw[["ts", "open", "high", "low", "close", "volume"]], FULL_SET)
windows = [df.iloc[r - 300 : r].reset_index(drop=True) for r in range(300, 600)]
symbol_facts("X", windows[0], "1h", None)  # warm-up (imports, numba's cached SMA)
cpu, wall = time.process_time(), time.perf_counter()
for w in windows:
    symbol_facts("X", w, "1h", None)
cpu_ms = (time.process_time() - cpu) / len(windows) * 1000
wall_ms = (time.perf_counter() - wall) / len(windows) * 1000
print(f"{cpu_ms:.3f} {wall_ms:.3f}")
