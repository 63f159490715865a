"""The live window covers every strategy's warm-up: `sma_cross` accepts `slow` up to 2000, so a
bot with slow=2000 must get frames of 2001 bars live and trade, as it does in a backtest (the
window held 300 bars: such a bot said "warming up" forever). A strategy that needs more than a
stream keeps is refused when the bot is added or edited, with a message naming the fix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from oxbot.engine.messages import AddBot, DecisionMade, OrderFilled, UpdateBot
from oxbot.engine.models import BotConfig
from oxbot.engine.strategies import REGISTRY, Strategy, StrategyParams
from oxbot.engine.strategies.base import NONE
from oxbot.storage.store import Store

from .conftest import Harness, make_engine


def slow_cfg(name: str = "slow") -> BotConfig:
    return BotConfig(name=name, symbols=("BTC/USDT",), params={"fast": 50, "slow": 2000})


async def test_a_slow_2000_bot_gets_its_warm_up_and_trades(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=300))
    await h.start()
    try:
        assert (await h.do(AddBot(config=slow_cfg(), start=True))).ok
        r = h.engine.runners["slow"]
        await h.drain(lambda: r.cycles >= 5)
        first = next(e for e in h.events if isinstance(e, DecisionMade) and e.bot == "slow")
        assert "warming up" not in first.reasoning  # the very first live bar has 2001 bars
        assert "SMA2000" in first.reasoning, first.reasoning
        assert len(r.frames["BTC/USDT"]) >= 2001
        await h.finish_market()
        fills = [e for e in h.events if isinstance(e, OrderFilled) and e.bot == "slow"]
        assert fills, "a slow=2000 bot never traded in 300 live bars"
    finally:
        await h.stop()


class LongParams(StrategyParams):
    length: int = 3000


class NeedsLongHistory(Strategy):
    """A user strategy whose warm-up is longer than any live stream keeps."""

    name = "test_needs_long_history"
    Params = LongParams

    def warmup(self) -> int:
        return self.params.length  # type: ignore[attr-defined,no-any-return]

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), NONE, dtype=np.int8)


async def test_a_warm_up_longer_than_live_data_is_refused(store: Store) -> None:
    REGISTRY[NeedsLongHistory.name] = NeedsLongHistory
    h = Harness(make_engine(store))
    await h.start()
    try:
        long_cfg: Any = BotConfig(name="long", strategy=NeedsLongHistory.name)
        done = await h.do(AddBot(config=long_cfg))
        assert not done.ok
        assert "needs 3000 bars before its first signal" in done.message
        assert "use shorter lengths" in done.message
        assert await store.load_bots() == []  # nothing saved
        ok = BotConfig(name="long", strategy=NeedsLongHistory.name, params={"length": 2400})
        assert (await h.do(AddBot(config=ok))).ok
        edited = ok.model_copy(update={"params": {"length": 2600}})
        done = await h.do(UpdateBot(name="long", config=edited))
        assert not done.ok and "needs 2600 bars" in done.message
        stored = {c.name: c for c, _ in await store.load_bots()}
        assert stored["long"].params == {"length": 2400}
    finally:
        await h.stop()
        REGISTRY.pop(NeedsLongHistory.name, None)
