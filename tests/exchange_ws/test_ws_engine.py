"""The whole path: the composition root (app/runtime.py build_engine) with a PAPER bot on
binance; its market data comes over the websocket from the local stream server (markets and
warm-up history from the fake REST exchange), each closed kline becomes one candle of the bot
(CandleClosed), and the bus says which feed binance uses (MarketFeed)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine_harness import Harness
from module_loading import load_by_path
from waiting import wait_for

from oxbot.engine.exchange.retry import RetryPolicy
from oxbot.engine.messages import AddBot, CandleClosed, MarketFeed
from oxbot.engine.models import BotConfig
from oxbot.remote.codec import decode, encode
from oxbot.tui.state import DashboardState

_s = load_by_path("_oxbot_ws_tests_support", Path(__file__).parent / "ws_support.py")
LAST_OPEN, TF_MS = _s.LAST_OPEN, _s.TF_MS


async def test_a_paper_bot_gets_its_candles_over_the_websocket(
    tmp_path: Path, ws: Any, rest: Any, configure: Any
) -> None:
    from oxbot.app.runtime import RuntimeOptions, build_engine

    opts = RuntimeOptions(
        db_path=tmp_path / "oxbot.db",
        snapshot_every_s=None,
        resume=False,
        stream_options={
            "configure": configure,
            "config": {"binance": {"timeout": 2000, "rateLimit": 1}},
            "use_stream": True,
            "poll_s": 0.02,
            "ws_policy": RetryPolicy(retries=5, base_s=0.01, jitter=0.0),
        },
    )
    h = Harness(await build_engine(opts))
    await h.start()
    try:
        bot = BotConfig(
            name="wsbot",
            exchange="binance",
            symbols=("BTC/USDT",),
            timeframe="1m",
            strategy="sma_cross",
            capital=Decimal("1000"),
        )
        assert (await h.do(AddBot(config=bot, start=True))).ok
        await h.drain(ws.subscribed.is_set, 20, "the websocket subscription")
        # the wall clock is years after the REST fake's klines: all of them closed, the
        # websocket goes on after the last one
        t = LAST_OPEN + TF_MS
        await ws.kline("BTCUSDT", "1m", t, "103", "104.5", "102.5", "104.25", "2", closed=True)
        await ws.kline("BTCUSDT", "1m", t + TF_MS, "104.25", "105", "104", "104.5")

        def candle() -> Any:
            return next((c for c in h.of(CandleClosed) if c.close == 104.25), None)

        await h.drain(lambda: candle() is not None, 20, "the websocket candle of the bot")
        c = candle()
        assert (c.bot, c.symbol, c.open, c.high, c.low) == ("wsbot", "BTC/USDT", 103, 104.5, 102.5)
        assert c.ts == t + TF_MS  # CandleClosed.ts: the candle's close time
        assert not [x for x in h.of(CandleClosed) if x.close == 104.5]  # still open
        assert ("binance", "ws") in [(e.exchange, e.feed) for e in h.of(MarketFeed)]
        # a cockpit attaching now learns the feed from the snapshot, not from the next switch
        snap = h.engine.snapshot()
        assert snap.feeds == (("binance", "ws"),)
        state = DashboardState()
        state.apply(decode(encode(snap)))  # as it crosses the control socket
        assert state.feeds == {"binance": "ws"}
        await wait_for(lambda: ws.connections == 1, 1, "one connection")
    finally:
        await h.stop()
        await h.engine.store.close()  # build_engine opened it
