"""The adversary's findings on the websocket feed (issue 14, adv14 W1-W6), through the real
ccxt.pro binance client against the local stream server (fake_binance_ws.py) and the fake
Binance REST exchange of tests/exchange (the REST fallback and catch-up):

- an error reply to SUBSCRIBE is a websocket failure (backoff, then REST with the reason);
- klines that cannot be real (open time not on the timeframe, ahead of the clock) are dropped;
- prices off the previous close by more than x10 / x0.1 are refused, on both paths;
- a jump of more than one step fetches the missing candles by REST;
- a REST row of garbage is dropped; an unexpected error ends in a notice and a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from module_loading import load_by_path
from waiting import wait_for

from oxbot.engine.messages import Notice
from oxbot.engine.models import StreamKey

_s = load_by_path("_oxbot_ws_tests_support", Path(__file__).parent / "ws_support.py")
LAST_OPEN, TF_MS, Reader = _s.LAST_OPEN, _s.TF_MS, _s.Reader
KEY = StreamKey("binance", "BTC/USDT", "1m")
BACKOFF = [0.01, 0.02, 0.04, 0.08, 0.16]  # the tests' policy: base 0.01 s, factor 2, no jitter


def _notices(streams: Any) -> list[str]:
    return [e.message for e in streams.events if isinstance(e, Notice)]


def _subscribes(ws: Any) -> int:
    return sum(1 for r in ws.requests if r.get("method") == "SUBSCRIBE")


async def test_an_error_reply_to_subscribe_is_a_websocket_failure_then_rest(
    make_streams: Any, ws: Any, rest: Any, sleeps: list[float]
) -> None:
    # ccxt/pro/binance.py handle_ws_error: {"error": {...}, "id": N} rejects the watch with
    # an ExchangeError (not a NetworkError): still the stream server's answer, not the market's
    ws.reject = 1000
    streams, bot = make_streams(ws_retry_s=0.2), Reader("bot")
    streams.subscribe(bot, KEY, frozenset(), bars=20)
    await wait_for(
        lambda: streams.feed_of("binance").startswith("rest (ws down: "), 10, "the REST fallback"
    )
    assert "Invalid request" in streams.feed_of("binance")
    assert sleeps[:5] == BACKOFF  # a backoff before each of the 5 new tries
    assert _subscribes(ws) == 6  # each try subscribes again (ccxt forgot the refused one)
    assert not any("market data stopped" in n for n in _notices(streams))
    # the first word about this exchange is already a fallback: a notice says it (W5)
    assert any(
        "binance market data: rest (ws down: " in n and "Invalid request" in n
        for n in _notices(streams)
    )
    await wait_for(lambda: 100.0 in bot.ticks(), 5, "the REST fake's price")
    ws.reject = 0  # the stream server accepts again: after ws_retry_s the websocket is back
    await wait_for(ws.subscribed.is_set, 10, "an accepted subscription")
    await ws.kline("BTCUSDT", "1m", LAST_OPEN + TF_MS, "100", "101", "99", "100.9")
    await wait_for(lambda: streams.feed_of("binance") == "ws", 5, "the websocket feed again")
