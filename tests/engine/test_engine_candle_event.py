"""CandleClosed, what the cockpit's price panel draws: one per bot per candle of each of its
streams, with the bot's strategy's moving averages at that candle (engine/bot.py
_publish_candle)."""

from __future__ import annotations

import math

from oxbot.engine.messages import AddBot, CandleClosed
from oxbot.engine.models import BotConfig
from oxbot.storage.store import Store

from .conftest import Harness, make_engine


def cfg(name: str) -> BotConfig:
    return BotConfig(
        name=name,
        strategy="sma_cross",
        params={"fast": 3, "slow": 8},
        symbols=("BTC/USDT", "ETH/USDT"),
    )


async def test_one_candle_event_per_bot_and_candle_with_its_moving_averages(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("a"), start=True))).ok
    assert (await h.do(AddBot(config=cfg("b"), start=True))).ok

    def of(bot: str, symbol: str) -> list[CandleClosed]:
        return [e for e in h.of(CandleClosed) if e.bot == bot and e.symbol == symbol]

    await h.drain(lambda: all(len(of(b, s)) >= 20 for b in "ab" for s in cfg("a").symbols))
    await h.stop()
    for bot in "ab":
        for symbol in cfg("a").symbols:
            events = of(bot, symbol)
            times = [e.ts for e in events]
            assert times == sorted(set(times)), "one event per candle, in order"
            closes = [e.close for e in events]
            for i, e in enumerate(events):
                assert e.low <= min(e.open, e.close) <= max(e.open, e.close) <= e.high
                mas = dict(e.mas)
                assert set(mas) <= {"sma_3", "sma_8"}
                if i >= 3:  # the window holds older candles too: sma_3 is there by now
                    assert math.isclose(mas["sma_3"], sum(closes[i - 2 : i + 1]) / 3)
    # both bots read the same stream (b joined later): the same candle at the same time
    a_btc = {e.ts: e.close for e in of("a", "BTC/USDT")}
    common = [e for e in of("b", "BTC/USDT") if e.ts in a_btc]
    assert common and all(a_btc[e.ts] == e.close for e in common)
