"""One LLM backtest (offline provider: every decision builds the live prompt) on 1,500 real 1h
candles. Prints: final equity and fills, then CPU s, wall s and the LLM metrics."""

import os
import tempfile
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("OXBOT_HOME", tempfile.mkdtemp())

from oxbot.app import backtests  # noqa: E402
from oxbot.app.llm_backtest import LlmOptions  # noqa: E402
from oxbot.engine.models import BotConfig  # noqa: E402

SRC = "/work/shared/data/ohlcv/binance_BTC-USDT_1h.csv"
folder = Path(tempfile.mkdtemp())
csv = folder / "btc.csv"
pd.read_csv(SRC, nrows=1500).to_csv(csv, index=False)
config = BotConfig(
    name="b",
    symbols=("BTC/USDT",),
    timeframe="1h",
    strategy="llm",
    params={"provider": "offline"},
)
spec = backtests.BotBacktest(config, {"BTC/USDT": str(csv)})
cpu, wall = time.process_time(), time.perf_counter()
r = backtests.run_bot(spec, llm=LlmOptions())
print(r.metrics.get("final_equity"), len(r.result.fills))
llm = {k: v for k, v in r.metrics["llm"].items() if k in ("calls", "cached")}
print(f"{time.process_time() - cpu:.2f} {time.perf_counter() - wall:.2f} {llm}")
