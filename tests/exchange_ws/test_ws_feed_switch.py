"""When the websocket is used at all: on by default where ccxt.pro can watch the exchange's
candles, off with OXBOT_WEBSOCKETS=0 or ``use_stream=False``, and off for an exchange whose
REST URL was moved (a proxy, a local fake) while its websocket URL still is the exchange's.
And what counts as a candle."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path
from waiting import wait_for

from oxbot.engine.exchange.clients import ExchangeClients, point_at
from oxbot.engine.exchange.ws_feed import candle_of, websockets_enabled
from oxbot.engine.messages import MarketFeed
from oxbot.engine.models import Candle, StreamKey

_s = load_by_path("_oxbot_ws_tests_support", Path(__file__).parent / "ws_support.py")
KEY = StreamKey("binance", "BTC/USDT", "1m")


def test_the_environment_switch() -> None:
    assert websockets_enabled({}) and websockets_enabled({"OXBOT_WEBSOCKETS": "1"})
    for off in ("0", "off", "false", "No", " 0 "):
        assert not websockets_enabled({"OXBOT_WEBSOCKETS": off})


def test_env_switch_reaches_the_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    from oxbot.engine.market.ccxt_streams import ExchangeStreams

    monkeypatch.setenv("OXBOT_WEBSOCKETS", "0")
    assert ExchangeStreams().use_stream is False
    monkeypatch.delenv("OXBOT_WEBSOCKETS")
    assert ExchangeStreams().use_stream is True


def _rest_only(client: Any) -> None:  # tests/exchange/fake_base.py point_ccxt: str groups only
    for group, url in client.urls["api"].items():
        if isinstance(url, str):
            client.urls["api"][group] = "http://127.0.0.1:9/api/v3"


async def test_a_moved_rest_url_without_a_websocket_url_means_rest() -> None:
    # engine/exchange/endpoints.py point_at (the `url` setting) moves the nested ws group too,
    # to an http URL: the gateway's REST, not the exchange's streams
    reg = ExchangeClients(configure=lambda c: point_at(c, "http://127.0.0.1:9"))
    client, why = reg.streaming("binance")
    assert client is None and "http(s) URL" in why
    reg = ExchangeClients(configure=_rest_only)  # REST moved, ws left at the exchange
    client, why = reg.streaming("binance")
    assert client is None and "websocket URL is not" in why
    plain = ExchangeClients()  # nothing moved: the exchange's own websocket
    client, why = plain.streaming("binance")
    assert client is not None and why == "" and client.has["watchOHLCV"]
    assert plain.streaming("binance")[0] is client  # one per exchange
    await plain.close_all()


async def test_a_proxy_keeps_the_exchange_on_rest() -> None:
    # engine/exchange/endpoints.py Endpoint.apply: the `proxy` setting sets httpProxy, httpsProxy
    # or socksProxy, which ccxt.pro's websockets do not use
    for attr in ("httpProxy", "httpsProxy", "socksProxy"):
        reg = ExchangeClients(configure=lambda c, a=attr: setattr(c, a, "http://127.0.0.1:3128"))
        client, why = reg.streaming("binance")
        assert client is None and "proxy" in why


async def test_settings_the_websocket_client_refuses_mean_rest() -> None:
    def configure(client: Any) -> None:
        if "ws" in client.urls["api"]:  # the ccxt.pro client only
            raise ValueError("no such option")

    client, why = ExchangeClients(configure=configure).streaming("binance")
    assert client is None and "no such option" in why


async def test_an_exchange_ccxt_pro_cannot_watch_is_polled() -> None:
    reg = ExchangeClients()
    client, why = reg.streaming("coinbase")  # ccxt 4.5: has['watchOHLCV'] is False
    assert client is None and "cannot watch" in why
    await reg.close_all()


async def test_websockets_off_polls_rest_and_says_so(make_streams: Any, ws: Any, rest: Any) -> None:
    streams, bot = make_streams(use_stream=False), _s.Reader("bot")
    streams.subscribe(bot, KEY, frozenset(), bars=20)
    await wait_for(lambda: 100.0 in bot.ticks(), 10, "a REST ticker price")
    assert streams.feed_of("binance") == "rest (ws off)"
    assert [e.feed for e in streams.events if isinstance(e, MarketFeed)] == ["rest (ws off)"]
    assert ws.handshakes == 0


@pytest.mark.parametrize(
    "row",
    [
        [],
        [1, 1, 1, 1, 1],  # no volume column
        [None, 1, 1, 1, 1, 1],
        ["soon", 1, 1, 1, 1, 1],
        [True, 1, 1, 1, 1, 1],
        [0, 1, 1, 1, 1, 1],
        [1, math.nan, 1, 1, 1, 1],
        [1, 1, math.inf, 1, 1, 1],
        [1, 1, 1, 1, None, 1],
        [1, 1, 1, 1, -1, 1],
        [1, 0, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, -1],
        [1, 1, 1, 1, 1, math.nan],
        [1, 1, 0.5, 0.9, 1, 1],  # high below low
        [1, 2, 1.5, 1, 1.2, 1],  # high below open
        [1, 1, 2, 1.1, 1.5, 1],  # low above open
    ],
)
def test_rows_that_are_not_candles(row: list[Any]) -> None:
    assert candle_of(row) is None


def test_a_candle_row() -> None:
    assert candle_of([60_000, 1, 2, 0.5, 1.5, None]) == Candle(60_000, 1, 2, 0.5, 1.5, 0)
    assert candle_of(["60000", "1", "2", "0.5", "1.5", "3"]) == Candle(60_000, 1, 2, 0.5, 1.5, 3)
