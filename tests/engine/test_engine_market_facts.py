"""The market tells, the bot decides: a price going stale or live shows in the bot's view; a
breaker opening pauses only the RUNNING bots of its exchange, and closing resumes only the bots
it paused that are still paused."""

from __future__ import annotations

from oxbot.engine.messages import (
    AddBot,
    BotStateChanged,
    ExchangeReachable,
    ExchangeUnreachable,
    PriceLive,
    PriceStale,
)
from oxbot.engine.models import BotConfig, BotStatus, StreamKey
from oxbot.storage.store import Store

from .conftest import Harness, make_engine


def cfg(name: str) -> BotConfig:
    return BotConfig(
        name=name,
        strategy="sma_cross",
        params={"fast": 3, "slow": 8},
        symbols=("BTC/USDT", "ETH/USDT"),
    )


async def test_a_stale_price_is_recorded_in_the_view_and_published(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("a"), start=True))).ok
    r = h.engine.runners["a"]
    eth, btc = StreamKey("sim", "ETH/USDT", "1m"), StreamKey("sim", "BTC/USDT", "1m")
    r.market_fact(PriceStale(eth, None, "timeout"))
    r.market_fact(PriceStale(btc, 1_700_000_000_000, "HTTP 503"))
    assert r.view().stale_symbols == ("BTC/USDT", "ETH/USDT")
    await h.drain(
        lambda: any(
            e.bot.stale_symbols == ("BTC/USDT", "ETH/USDT")
            for e in h.of(BotStateChanged)
            if e.bot.name == "a"
        )
    )
    r.market_fact(PriceLive(btc))
    assert r.view().stale_symbols == ("ETH/USDT",)
    assert r.status is BotStatus.RUNNING  # a stale price pauses nothing
    await h.stop()


async def test_the_breaker_pauses_running_bots_and_resumes_only_those(store: Store) -> None:
    h = Harness(make_engine(store, max_candles=None))
    await h.start()
    assert (await h.do(AddBot(config=cfg("run"), start=True))).ok
    assert (await h.do(AddBot(config=cfg("idle")))).ok
    run, idle = h.engine.runners["run"], h.engine.runners["idle"]

    assert not await run.exchange_fact(ExchangeUnreachable("binance", "HTTP 503"))
    assert run.status is BotStatus.RUNNING  # another exchange's breaker
    assert not await idle.exchange_fact(ExchangeUnreachable("sim", "HTTP 503"))
    assert idle.status is BotStatus.STOPPED  # only a RUNNING bot pauses
    assert await run.exchange_fact(ExchangeUnreachable("sim", "HTTP 503"))
    view = run.view()
    assert view.status is BotStatus.PAUSED and view.pause_reason == "sim unreachable: HTTP 503"
    stored = {c.name: s for c, s in await store.load_bots()}
    assert stored["run"] is BotStatus.RUNNING  # not stored: a restart must not inherit it

    assert not await run.exchange_fact(ExchangeReachable("sim", "ok", paused=("other",)))
    assert run.status is BotStatus.PAUSED  # not paused by this breaker: left alone
    assert await run.exchange_fact(ExchangeReachable("sim", "ok", paused=("run",)))
    assert run.status is BotStatus.RUNNING and run.view().pause_reason == ""
    assert not await idle.exchange_fact(ExchangeReachable("sim", "ok", paused=("idle",)))
    assert idle.status is BotStatus.STOPPED  # resumes only a bot still paused
    await h.stop()
