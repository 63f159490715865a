"""A `sma_cross` bot with `slow=2000` on a real exchange (the fake Binance through real ccxt)
gets its 2001 bars of history at start and trades: the stream's warm-up is fetched in pages,
because one klines reply holds at most 1,000 rows (Binance spot, GET /api/v3/klines: "limit
Default 500; max 1000", https://developers.binance.com/docs/binance-spot-api-docs/rest-api/
market-data-endpoints; ccxt sends ``min(limit, 1000)``: ccxt/async_support/binance.py,
fetch_ohlcv, ``maxLimit = 1000``). It used to keep 300 bars and say "warming up" forever.

A second bot that needs more history than a running stream holds makes the stream fetch the
older candles (a backfill) instead of waiting days for live ones."""

from __future__ import annotations

from typing import Any

from oxbot.engine.messages import AddBot, DecisionMade, OrderFilled
from oxbot.engine.models import BotConfig, Mode


def sma_bot(name: str, slow: int, fast: int = 50) -> BotConfig:
    return BotConfig(
        name=name,
        exchange="binance",
        symbols=("BTC/USDT",),
        timeframe="1m",
        params={"fast": fast, "slow": slow},
        mode=Mode.PAPER,
    )


def older_pages(fake: Any, queries: list[dict[str, str]]) -> int:
    """Requests for candles more than 1,000 bars old (a live poll asks from the last one)."""
    return sum(int(p.get("startTime", fake.now_ms)) < fake.now_ms - 1000 * 60_000 for p in queries)


def record_klines(fake: Any) -> list[dict[str, str]]:
    """The query of every klines request the fake answers, in order."""
    seen: list[dict[str, str]] = []
    handle = fake._klines

    def klines(p: dict[str, str]) -> list[list[Any]]:
        seen.append(dict(p))
        return handle(p)  # type: ignore[no-any-return]

    fake._klines = klines
    return seen


async def trades_with_a_full_window(run: Any, name: str) -> None:
    r = run.engine.runners[name]
    # A bot joining a running stream may see a candle or two close while the older ones are
    # still being fetched (it holds, "warming up", then): it must get its full window.
    await run.wait(
        lambda: any(
            isinstance(e, DecisionMade) and e.bot == name and "SMA2000" in e.reasoning
            for e in run.events
        ),
        30,
    )
    assert len(r.frames["BTC/USDT"]) >= 2001
    await run.wait(
        lambda: any(isinstance(e, OrderFilled) and e.bot == name for e in run.events), 60
    )


async def test_a_slow_2000_paper_bot_on_an_exchange_trades(fake: Any, run_engine: Any) -> None:
    seen = record_klines(fake)
    run = await run_engine(fake)
    assert (await run.do(AddBot(config=sma_bot("slow", 2000), start=True))).ok
    await trades_with_a_full_window(run, "slow")
    # ccxt capped each request at 1,000 rows: the warm-up took pages by startTime
    assert all(int(p.get("limit", 500)) <= 1000 for p in seen), seen
    assert older_pages(fake, seen) >= 1, seen[:4]
    await run.stop()


async def test_a_longer_warm_up_joining_a_running_stream_is_backfilled(
    fake: Any, run_engine: Any
) -> None:
    seen = record_klines(fake)
    run = await run_engine(fake)
    assert (await run.do(AddBot(config=sma_bot("quick", 30, fast=10), start=True))).ok
    quick = run.engine.runners["quick"]
    await run.wait(lambda: quick.cycles >= 2, 30)
    assert len(quick.frames["BTC/USDT"]) < 2001  # the stream held what its reader needed
    before = len(seen)
    assert (await run.do(AddBot(config=sma_bot("slow", 2000), start=True))).ok
    await trades_with_a_full_window(run, "slow")
    assert run.engine.hub.exchanges.feeds_opened == 1  # one stream for both bots
    assert older_pages(fake, seen[:before]) == 0
    assert older_pages(fake, seen[before:]) >= 1
    await run.stop()
