"""Live trading's per-candle path (MarketHub with incremental indicators -> ``Strategy.signal``
on the bar's MarketView) gives, at every candle of a real CSV replay, the signal ``signals()``
gives over the whole history with pandas-ta (what a backtest computes): for each built-in (their
own ``signal``) and for a user strategy that defines only ``signals(frame)`` (the default
``signal``, on the bar's frame). The replay runs past the stream's MAX_WINDOW and past the
point where its arrays compact, so the window slides and moves as it does in a long run.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from oxbot.engine.market.hub import Bar, MarketHub
from oxbot.engine.market.indicators import compute
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.market.window import MAX_WINDOW
from oxbot.engine.models import StreamKey
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, build_strategy
from oxbot.engine.strategies.base import ENTER, EXIT, NONE

DATA = Path("/work/shared/data/ohlcv/binance_BTC-USDT_5m.csv")
KEY = StreamKey("sim", "BTC/USDT", "5m")
LIVE = 2 * MAX_WINDOW + 300  # candles replayed live: the arrays compact once on the way


class CloseOverSma(Strategy):
    """A user strategy with only ``signals``: enter when the close crosses above SMA20, exit
    when it crosses below."""

    name = "test_close_over_sma"
    Params = StrategyParams

    def indicators(self) -> list[Any]:
        return [SMA(20)]

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        above = (frame["close"] > frame["sma_20"]).to_numpy()
        out = np.zeros(len(frame), dtype=np.int8)
        out[1:][~above[:-1] & above[1:]] = ENTER
        out[1:][above[:-1] & ~above[1:]] = EXIT
        return out


class Reader:
    """A hub subscriber that asks its strategy for the signal of every bar it gets."""

    def __init__(self, name: str, strategy: Strategy) -> None:
        self.name = name
        self.strategy = strategy
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.got: dict[int, int] = {}  # candle open ts -> live signal
        self.reasons: list[str] = []

    def market_fact(self, fact: Any) -> None:
        pass

    async def run(self) -> None:
        while True:
            item = await self.inbox.get()
            try:
                if isinstance(item, Bar) and len(item.view) >= self.strategy.warmup():
                    sig = self.strategy.signal(item.view)
                    self.got[item.candle.ts] = sig
                    if sig != NONE:
                        self.reasons.append(self.strategy.reason(item.view, sig))
            finally:
                self.inbox.task_done()


def strategies() -> dict[str, Strategy]:
    return {
        "sma_cross": build_strategy("sma_cross", {}),
        "rsi_reversion": build_strategy("rsi_reversion", {}),
        "ema_atr_trend": build_strategy("ema_atr_trend", {}),
        "bb_rsi_reversion": build_strategy("bb_rsi_reversion", {}),
        "user_signals_only": CloseOverSma(),
    }


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason=f"needs the real candles in {DATA}")
async def test_per_candle_signals_equal_signals_over_the_whole_history() -> None:
    hub = MarketHub(SimConfig(speed=None, max_candles=LIVE, csv={"BTC/USDT": str(DATA)}))
    readers = [Reader(name, s) for name, s in strategies().items()]
    for r in readers:
        hub.subscribe(r, [KEY], r.strategy.indicators(), bars=r.strategy.warmup())
    tasks = [asyncio.create_task(r.run()) for r in readers]
    market = asyncio.create_task(hub.run())
    stream = hub._streams[KEY]
    while not stream.ended:
        await asyncio.sleep(0.05)
    market.cancel()
    for t in (*tasks, market):
        t.cancel()
    await asyncio.gather(*tasks, market, return_exceptions=True)

    history = pd.read_csv(DATA, nrows=len(readers[0].got) + 400)
    history = history.rename(columns={"timestamp": "ts"})
    all_specs = {s for r in readers for s in r.strategy.indicators()}
    full = compute(history, all_specs)
    row_of = {int(t): i for i, t in enumerate(full["ts"])}
    for r in readers:
        assert len(r.got) >= LIVE - 1, r.name
        want = r.strategy.signals(full)
        trades = 0
        for ts, sig in r.got.items():
            assert sig == int(want[row_of[ts]]), (r.name, ts, sig, int(want[row_of[ts]]))
            trades += sig != NONE
        assert trades >= 4, f"{r.name}: too few signals to prove anything ({trades})"
        if r.name != "user_signals_only":  # it has no explain: decide() says the action only
            assert all(r.reasons), r.name  # every buy or exit of a built-in says why

    # The newest bar's frame holds the values pandas-ta gives over the whole history
    # (whole-stream seeding): the window's rows, every indicator column.
    last = stream.view(KEY).frame()
    ref = full.set_index("ts").loc[last["ts"]]
    for col in ("rsi_14", "ema_12", "atr_14", "bb_mid_20", "sma_30"):
        a, b = last[col].to_numpy(), ref[col].to_numpy()
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), col
    assert not math.isnan(last["rsi_14"].iloc[0])
