"""The websocket feed when the stream server misbehaves, through the real ccxt.pro client:
a dropped connection is redialled after a backoff; five failures in a row switch the exchange
to REST polling (the fake REST exchange of tests/exchange), and the websocket is used again
when it answers; a silent connection is a stall (dropped and redialled; the price goes stale);
garbage frames are skipped and never reach a bot."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any

from module_loading import load_by_path
from waiting import wait_for

from oxbot.engine.messages import MarketFeed, PriceLive, PriceStale
from oxbot.engine.models import StreamKey

_s = load_by_path("_oxbot_ws_tests_support", Path(__file__).parent / "ws_support.py")
LAST_OPEN, TF_MS, Reader = _s.LAST_OPEN, _s.TF_MS, _s.Reader
KEY = StreamKey("binance", "BTC/USDT", "1m")
BACKOFF = [0.01, 0.02, 0.04, 0.08, 0.16]  # the tests' policy: base 0.01 s, factor 2, no jitter


async def _streaming(streams: Any, ws: Any, bot: Any, price: str = "100.5") -> None:
    streams.subscribe(bot, KEY, frozenset(), bars=20)
    await wait_for(ws.subscribed.is_set, 10, "the SUBSCRIBE of ccxt.pro")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", price)
    await wait_for(lambda: float(price) in bot.ticks(), 5, "the first websocket price")


async def test_a_dropped_connection_is_redialled_after_a_backoff(
    make_streams: Any, ws: Any, sleeps: list[float]
) -> None:
    streams, bot = make_streams(), Reader("bot")
    await _streaming(streams, ws, bot)
    assert ws.connections == 1 and sleeps == []
    await ws.drop()  # ccxt: "Connection closed by remote server" (ws/client.py on_close)
    await wait_for(ws.subscribed.is_set, 10, "the resubscription after the redial")
    assert ws.connections == 2
    assert sleeps == BACKOFF[:1]  # one failure, one backoff delay
    assert streams._streams[KEY].feed.ws.reconnects == 1
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", "100.75", closed=True)
    await ws.kline("BTCUSDT", "1m", LAST_OPEN + TF_MS, "100.75", "101", "100", "100.8")
    bars = await wait_for(lambda: bot.bars(), 5, "a bar after the reconnect")
    assert [(b.ts, b.close) for b in bars] == [(LAST_OPEN, 100.75)]
    assert streams.feed_of("binance") == "ws"


async def test_five_failures_fall_back_to_rest_and_the_websocket_comes_back(
    make_streams: Any, ws: Any, rest: Any, sleeps: list[float], caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="oxbot")
    streams, bot = make_streams(ws_retry_s=0.2), Reader("bot")
    await _streaming(streams, ws, bot)
    ws.refuse = 1000  # every handshake gets HTTP 503
    await ws.drop()
    await wait_for(
        lambda: streams.feed_of("binance").startswith("rest (ws down: "), 10, "the REST fallback"
    )
    # 1 failure from the drop + 5 refused redials; a backoff delay before each redial
    assert ws.handshakes == 1 + 5
    assert sleeps[:5] == BACKOFF  # then only REST polling periods (poll_s)
    assert set(sleeps[5:]) <= {0.02}
    assert "503" in streams.feed_of("binance")
    polled = len([p for _, p, _ in rest.requests if p.endswith("/ticker/24hr")])
    await wait_for(
        lambda: len([p for _, p, _ in rest.requests if p.endswith("/ticker/24hr")]) > polled,
        5,
        "REST polling of the ticker",
    )
    assert 100.0 in bot.ticks()  # the REST fake's price (fake_binance _ticker: lastPrice)
    # every ws_retry_s of REST the websocket is tried once: refused, REST goes on at once
    await wait_for(lambda: ws.handshakes >= 6 + 2, 10, "two tries of the websocket")
    assert set(sleeps[5:]) == {0.02}  # REST polling periods only: no backoff for a try
    assert streams.feed_of("binance").startswith("rest (ws down: ")
    assert not ws.subscribed.is_set()
    ws.refuse = 0  # the stream server is back: after ws_retry_s of REST, the websocket again
    await wait_for(ws.subscribed.is_set, 10, "a new subscription after the REST period")
    assert streams.feed_of("binance").startswith("rest")  # no data from it yet
    t = LAST_OPEN + TF_MS
    await ws.kline("BTCUSDT", "1m", t, "100", "101", "99", "100.9", closed=True)
    await wait_for(lambda: streams.feed_of("binance") == "ws", 5, "the websocket feed again")
    await ws.kline("BTCUSDT", "1m", t + TF_MS, "100.9", "101", "100", "101")
    bars = await wait_for(lambda: len(bot.bars()) == 2, 5, "two bars") and bot.bars()
    # LAST_OPEN closed while REST was polled: the REST fake's kline (its ticker's time says it
    # closed; feed.py poll_once), or fetched by REST when the websocket came back with a later
    # one (feed.py _catch_up); then the websocket's, once each, in order
    rest_close = float(rest.klines[-1][4])
    assert [(b.ts, b.close) for b in bars] == [(LAST_OPEN, rest_close), (t, 100.9)]
    assert streams.feeds() == {"binance": "ws"}
    feeds = [e.feed for e in streams.events if isinstance(e, MarketFeed)]
    assert feeds[0] == "ws" and feeds[1].startswith("rest (ws down: ") and feeds[-1] == "ws"
    notices = [e.message for e in streams.events if type(e).__name__ == "Notice"]
    assert any("binance market data: ws -> rest (ws down:" in n for n in notices)
    assert any(n.endswith("-> ws") for n in notices)
    # the log (what a headless engine writes, app/logs.py: root at INFO) says both switches
    logged = [r.getMessage() for r in caplog.records if r.name == "oxbot.market.ccxt"]
    assert any("binance market data: ws -> rest (ws down: " in m for m in logged)
    assert any(
        m.startswith("binance market data: rest (ws down: ") and m.endswith("-> ws") for m in logged
    )


async def test_a_silent_connection_is_a_stall_the_price_goes_stale_then_live(
    make_streams: Any, ws: Any, clock: Any
) -> None:
    streams, bot = make_streams(ws_stall_s=0.3, stale_after_s=60.0), Reader("bot")
    await _streaming(streams, ws, bot)
    # the server says nothing more: after ws_stall_s the connection is dropped and redialled
    await wait_for(lambda: ws.connections >= 2, 10, "a redial after the stall")
    clock.ms += 61_000  # and a minute passes on the engine's clock without a price
    streams.check_stale()
    stale = [f for f in bot.facts if isinstance(f, PriceStale)]
    assert stale and "no websocket data for 0.3s" in stale[-1].error

    async def resend() -> None:  # until a redialled connection carries it (each one may stall)
        await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", "100.6")
        await asyncio.sleep(0.02)

    await wait_for(lambda: 100.6 in bot.ticks(), 10, "a price after the stall", pause=resend)
    streams.check_stale()
    assert isinstance(bot.facts[-1], PriceLive)


GARBAGE = [
    "this is not JSON",
    '{"e": "kline", "k": {"t": 1',  # cut short
    "[1, 2, 3]",
    '{"e": "kline"}',  # no kline in it
    '{"e": "kline", "s": "BTCUSDT", "k": {"t": "soon", "s": "BTCUSDT", "i": "1m"}}',
    "{}",
]


async def test_garbage_frames_are_skipped_and_never_reach_a_bot(make_streams: Any, ws: Any) -> None:
    streams, bot = make_streams(), Reader("bot")
    await _streaming(streams, ws, bot)
    stream = "btcusdt@kline_1m"
    for text in GARBAGE:
        assert await ws.send_raw(text, stream) == 1
    # a kline whose prices are NaN, one whose high is below its low, one with a negative close
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "NaN", "NaN", "NaN", "NaN")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "99", "101", "100")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101", "99", "-5")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN, "100", "101.5", "99", "101.25", "3", closed=True)
    await ws.kline("BTCUSDT", "1m", LAST_OPEN + TF_MS, "101.25", "102", "101", "101.5")
    bars = await wait_for(lambda: bot.bars(), 5, "the bar after the garbage")
    assert [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (LAST_OPEN, 100.0, 101.5, 99.0, 101.25, 3.0)
    ]
    ticks = bot.ticks()
    assert all(math.isfinite(p) and p > 0 for p in ticks) and 101.5 in ticks
    assert 100.0 not in ticks[ticks.index(100.5) :]  # the high<low kline's close never came
    assert ws.connections == 1  # nothing made the client reconnect
    assert streams.feed_of("binance") == "ws"
    client, _ = streams.clients.streaming("binance")
    dropped = "\n".join(client._oxbot_dropped)
    # ws_feed.guard: text that is not JSON, cut-short JSON, frames ccxt's binance.handle_message
    # fails on; WsCandles: rows that are not candles ("{}" and the kline with a bad "t" are
    # passed over by ccxt itself or end up as such a row)
    for seen in ("this is not JSON", '{"e": "kline", "k": {"t": 1', "[1, 2, 3]", "'e': 'kline'}"):
        assert seen in dropped
    assert "malformed candle row" in dropped


async def test_a_silent_server_ends_in_rest_and_its_tries_do_not_stop_polling(
    make_streams: Any, ws: Any, rest: Any
) -> None:
    streams, bot = make_streams(ws_stall_s=0.3), Reader("bot")
    await _streaming(streams, ws, bot)
    # it accepts connections and subscriptions and then says nothing: 6 stalls (a connection
    # silent for the whole stall time is dropped and redialled), then REST
    await wait_for(
        lambda: streams.feed_of("binance") == "rest (ws down: no websocket data for 0.3s)",
        15,
        "the REST fallback after the stalls",
    )
    assert ws.connections >= 2

    def tickers() -> int:
        return sum(1 for _, p, _ in rest.requests if p.endswith("/ticker/24hr"))

    # each later try waits at most the stall time and hands back to REST
    seen, dialled = tickers(), ws.connections
    await wait_for(lambda: ws.connections > dialled, 10, "a later try of the websocket")
    await wait_for(lambda: tickers() > seen + 2, 5, "REST polling between the tries")
    assert streams.feed_of("binance").startswith("rest (ws down: ")
