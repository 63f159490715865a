"""Fixtures for the websocket feed: the local Binance stream server, the fake Binance REST
exchange of tests/exchange (the REST fallback, and where markets and warm-up history come
from), and ``ExchangeStreams`` pointed at both with backoff delays in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from module_loading import load_by_path

_HERE = Path(__file__).parent

fake_rest = load_by_path(
    "_oxbot_ws_tests_fake_binance", _HERE.parent / "exchange" / "fake_binance.py"
)
fake_ws = load_by_path("_oxbot_ws_tests_fake_binance_ws", _HERE / "fake_binance_ws.py")

support = load_by_path("_oxbot_ws_tests_support", _HERE / "ws_support.py")
TF_MS, LAST_OPEN, Clock = support.TF_MS, support.LAST_OPEN, support.Clock


@pytest.fixture
async def rest() -> AsyncIterator[Any]:
    server = fake_rest.FakeBinance(
        klines=fake_rest.generated_klines(LAST_OPEN + TF_MS - 300 * TF_MS, 300)
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def ws() -> AsyncIterator[Any]:
    server = fake_ws.FakeBinanceWs()
    await server.start()
    yield server
    await server.stop()
    assert server.errors == [], server.errors


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock(LAST_OPEN + 30_000)


@pytest.fixture
def configure(rest: Any, ws: Any) -> Any:
    """``configure(client)`` for ExchangeClients: REST to the fake exchange, and for the
    ccxt.pro client its spot stream URL to the local stream server."""

    def configure(client: Any) -> None:
        fake_rest.base.point_ccxt(client, rest.base_url)  # REST groups: the fake exchange
        api_ws = client.urls["api"].get("ws")
        if isinstance(api_ws, dict):  # ccxt.pro: its spot stream URL, the local server
            api_ws["spot"] = ws.url

    return configure


@pytest.fixture
async def make_streams(
    configure: Any, ws: Any, sleeps: list[float], clock: Clock
) -> AsyncIterator[Any]:
    from oxbot.engine.exchange.retry import RetryPolicy
    from oxbot.engine.market.ccxt_streams import ExchangeStreams

    made: list[Any] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)
        await asyncio.sleep(s)

    def make(**options: Any) -> Any:
        settings: dict[str, Any] = {
            "clock": clock,
            "poll_s": 0.02,
            "stale_after_s": 60.0,
            "retry_s": 0.02,
            "use_stream": True,
            "sleep": sleep,
            "ws_policy": RetryPolicy(retries=5, base_s=0.01, factor=2.0, max_s=1.0, jitter=0.0),
            "ws_stall_s": 5.0,
            "ws_retry_s": 0.1,
            "config": {"binance": {"timeout": 2000, "rateLimit": 1}},
            "configure": configure,
            "breaker_threshold": 50,
        }
        settings.update(options)
        streams = ExchangeStreams(**settings)
        events: list[Any] = []
        streams.bind(events.append, lambda: ())
        streams.events = events
        made.append(streams)
        return streams

    yield make
    for s in made:
        await s.close()
