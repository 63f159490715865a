"""CcxtFeed on the fake exchange: closed candles only, ticks, stale price; PAPER is keyless."""

from __future__ import annotations

from typing import Any

from oxbot.engine.exchange.feed import CcxtFeed, Tick
from oxbot.engine.models import Candle


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


async def test_paper_feed_is_keyless_and_never_hits_private_endpoints(
    fake: Any, clients: Any
) -> None:
    client = clients.public("binance")
    assert not client.apiKey and not client.secret
    last_open = fake.klines[-1][0]
    clock = Clock(last_open + 30_000)  # the last kline is still open
    feed = CcxtFeed(client, "BTC/USDT", "1m", clients=clients, clock=clock, stale_after_s=60)
    await clients.markets("binance")
    candles = await feed.warmup(50)
    assert len(candles) == 50 and all(isinstance(c, Candle) for c in candles)
    assert candles[-1].ts == last_open - 60_000  # the open candle was dropped
    assert [c.ts for c in candles] == sorted(c.ts for c in candles)
    out = await feed.poll_once()
    assert out == [Tick(fake.now_ms, 100.0)]
    fake.klines.append(
        [last_open + 60_000, "100", "100", "100", "100", "1"]
    )  # near ~100: 1 is refused (feed.py PRICE_FACTOR)
    clock.ms = last_open + 125_000  # both remaining candles are now closed
    out = await feed.poll_once()
    assert [c.ts for c in out if isinstance(c, Candle)] == [last_open, last_open + 60_000]
    assert fake.requests and fake.signed_requests() == []


async def test_unreachable_exchange_keeps_last_price_and_turns_stale(
    fake: Any, clients: Any
) -> None:
    clock = Clock(fake.klines[-1][0] + 30_000)
    feed = CcxtFeed(
        clients.public("binance"), "BTC/USDT", "1m", clients=clients, clock=clock, stale_after_s=60
    )
    await feed.warmup(5)
    assert feed.last_price == float(fake.klines[-2][4]) and not feed.is_stale
    fake.fault_fn = lambda m, p: "503"
    clock.ms += 10_000
    assert await feed.poll_once() == []
    assert feed.last_price == float(fake.klines[-2][4]) and not feed.is_stale
    assert "503" in feed.last_error or "failed" in feed.last_error
    clock.ms += 120_000
    assert await feed.poll_once() == []
    assert feed.is_stale and feed.last_price is not None
    fake.fault_fn = None
    assert await feed.poll_once()
    assert not feed.is_stale and feed.last_ok_ts == clock.ms


async def test_close_all_closes_every_client(fake: Any, clients: Any, creds: Any) -> None:
    pub = clients.public("binance")
    priv = await clients.private("binance", lambda: creds)
    await clients.markets("binance")
    await priv.fetch_balance()
    assert pub.session is not None and priv.session is not None
    assert priv.markets is pub.markets or priv.markets.keys() == pub.markets.keys()
    assert sum(1 for _, p, _ in fake.requests if p == "/api/v3/exchangeInfo") == 1
    await clients.close_all()
    assert pub.session is None and priv.session is None
