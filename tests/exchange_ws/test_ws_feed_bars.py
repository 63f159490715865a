"""The websocket feed through the real ccxt.pro binance client against the local stream server:
closed candles become bars in order, the candle in progress only moves the price, every stream
of the exchange shares one connection, and the feed in use is told (MarketFeed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from module_loading import load_by_path
from waiting import wait_for

from oxbot.engine.messages import MarketFeed
from oxbot.engine.models import StreamKey

_s = load_by_path("_oxbot_ws_tests_support", Path(__file__).parent / "ws_support.py")
LAST_OPEN, TF_MS, Reader = _s.LAST_OPEN, _s.TF_MS, _s.Reader
KEY = StreamKey("binance", "BTC/USDT", "1m")


async def test_closed_klines_become_bars_in_order_and_open_ones_only_ticks(
    make_streams: Any, ws: Any, rest: Any
) -> None:
    streams = make_streams()
    bot = Reader("bot")
    streams.subscribe(bot, KEY, frozenset(), bars=50)
    await wait_for(ws.subscribed.is_set, 10, "the SUBSCRIBE of ccxt.pro")
    # ccxt/pro/binance.py watch_ohlcv_for_symbols: "<lowercaseId>@kline_<interval>", int id
    assert ws.requests[0]["method"] == "SUBSCRIBE"
    assert ws.requests[0]["params"] == ["btcusdt@kline_1m"]
    t = LAST_OPEN  # the REST warm-up ended before it (it was open then)
    # a live update (x=false), then the same kline closed (x=true) with its final values
    await ws.kline("BTCUSDT", "1m", t, "100", "101", "99", "100.5", closed=False)
    await wait_for(lambda: 100.5 in bot.ticks(), 5, "the live kline's price as a tick")
    assert bot.bars() == []  # an open kline is never a bar
    await ws.kline("BTCUSDT", "1m", t, "100", "102", "98", "101.5", "7", closed=True)
    await ws.kline("BTCUSDT", "1m", t + TF_MS, "101.5", "103", "101", "102", closed=False)
    bars = await wait_for(lambda: bot.bars(), 5, "the first closed kline as a bar")
    assert [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (t, 100.0, 102.0, 98.0, 101.5, 7.0)
    ]
    await ws.kline("BTCUSDT", "1m", t + TF_MS, "101.5", "104", "101", "103.5", closed=True)
    await ws.kline("BTCUSDT", "1m", t + 2 * TF_MS, "103.5", "104", "103", "103.7")
    await wait_for(lambda: len(bot.bars()) == 2, 5, "the second bar")
    assert [b.ts for b in bot.bars()] == [t, t + TF_MS]
    assert bot.bars()[1].close == 103.5
    assert bot.ticks()[-1] == 103.7
    assert streams.feed_of("binance") == "ws"
    feeds = [e for e in streams.events if isinstance(e, MarketFeed)]
    assert [(e.exchange, e.feed) for e in feeds] == [("binance", "ws")]
    # the REST fake served the markets and the warm-up only, never a ticker poll
    assert not any(p.endswith("/ticker/24hr") for _, p, _ in rest.requests)


async def test_streams_of_one_exchange_share_one_connection(make_streams: Any, ws: Any) -> None:
    streams = make_streams()
    a, b = Reader("a"), Reader("b")
    streams.subscribe(a, KEY, frozenset(), bars=20)
    streams.subscribe(b, StreamKey("binance", "BTC/USDT", "5m"), frozenset(), bars=20)
    await wait_for(
        lambda: (
            {p for r in ws.requests for p in r["params"]}
            == {"btcusdt@kline_1m", "btcusdt@kline_5m"}
        ),
        10,
        "both subscriptions",
    )
    assert ws.connections == 1 and ws.open_sockets() == 1
    await ws.kline("BTCUSDT", "5m", LAST_OPEN, "100", "101", "99", "100.25", tf_ms=300_000)
    await wait_for(lambda: 100.25 in b.ticks(), 5, "the 5m stream's price")
    assert 100.25 not in a.ticks()


async def test_a_stream_nobody_reads_is_unsubscribed_and_can_come_back(
    make_streams: Any, ws: Any
) -> None:
    streams, bot = make_streams(), Reader("bot")
    streams.subscribe(bot, KEY, frozenset(), bars=20)
    await wait_for(ws.subscribed.is_set, 10, "the SUBSCRIBE")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", "100.5")
    await wait_for(lambda: streams.feed_of("binance") == "ws", 5, "the websocket feed")
    streams.unsubscribe(bot)
    # ccxt/pro/binance.py un_watch_ohlcv_for_symbols: the same stream name, "UNSUBSCRIBE"
    await wait_for(
        lambda: (
            {"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_1m"]}
            in [{k: r[k] for k in ("method", "params")} for r in ws.requests]
        ),
        5,
        "the UNSUBSCRIBE",
    )
    assert ws.subscribers("btcusdt@kline_1m") == []
    assert streams.feed_of("binance") == ""  # no stream of binance runs
    said = [(e.feed) for e in streams.events if isinstance(e, MarketFeed)]
    assert said == ["ws", ""]  # the header drops it (tui/state.py)
    assert not [e for e in streams.events if type(e).__name__ == "Notice"]
    ws.subscribed.clear()
    again = Reader("again")
    streams.subscribe(again, KEY, frozenset(), bars=20)
    await wait_for(ws.subscribed.is_set, 10, "a new SUBSCRIBE")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", "100.7")
    await wait_for(lambda: 100.7 in again.ticks(), 5, "prices for the new reader")
    assert ws.connections == 1


async def test_candles_missed_before_the_first_kline_are_fetched_by_rest(
    make_streams: Any, ws: Any, rest: Any
) -> None:
    streams, bot = make_streams(), Reader("bot")
    streams.subscribe(bot, KEY, frozenset(), bars=50)
    await wait_for(ws.subscribed.is_set, 10, "the SUBSCRIBE")
    # the warm-up ended before LAST_OPEN (open then); the websocket's first kline is the next
    # one: LAST_OPEN closed meanwhile and comes from REST (feed.py _catch_up), then the stream
    t = LAST_OPEN + TF_MS
    await ws.kline("BTCUSDT", "1m", t, "103", "104", "102", "103.5", closed=True)
    rest_close = float(rest.klines[-1][4])
    bars = await wait_for(lambda: bot.bars(), 5, "the missed candle")
    assert [(b.ts, b.close) for b in bars] == [(LAST_OPEN, rest_close)]
    # (ccxt.pro resolves a watch at the next frame: one sent while the feed fetched from REST
    # is read with the one after it; Binance sends one every 2 s)
    await ws.kline("BTCUSDT", "1m", t + TF_MS, "103.5", "104", "103", "103.75")
    await wait_for(lambda: len(bot.bars()) == 2, 5, "the websocket's bar")
    assert [(b.ts, b.close) for b in bot.bars()] == [(LAST_OPEN, rest_close), (t, 103.5)]
