"""A max-speed replay steps aside while an in-process cockpit draws: the market stands still
while the UI says busy, commands are still answered meanwhile, and it moves on when the UI is
idle again (or after max_wait_s, so a UI that never says idle cannot stall trading)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from oxbot.engine.bot import BotRunner
from oxbot.engine.foreground import Foreground
from oxbot.engine.market.hub import Tick
from oxbot.engine.messages import AddBot, PauseBot, StopBot
from oxbot.engine.models import BotConfig, StreamKey
from oxbot.storage.store import Store

from .conftest import Harness, make_engine


async def test_wait_turn_returns_at_once_when_idle_and_when_the_ui_is_done() -> None:
    fg = Foreground(max_wait_s=30)
    await asyncio.wait_for(fg.wait_turn(), 1)
    assert fg.yielded_s == 0.0
    fg.busy()
    threading.Timer(0.05, fg.idle).start()  # the UI thread finishes its frame
    await asyncio.wait_for(fg.wait_turn(), 10)  # long before max_wait_s
    assert not fg.is_busy and fg.yielded_s > 0


async def test_a_ui_that_never_says_idle_cannot_stall_the_market() -> None:
    fg = Foreground(max_wait_s=0.05)
    fg.busy()
    await asyncio.wait_for(fg.wait_turn(), 5)
    assert fg.is_busy and fg.yielded_s >= 0.05


@contextlib.asynccontextmanager
async def trading_bot(store: Store) -> AsyncIterator[tuple[Harness, Foreground, BotRunner]]:
    """One bot trading BTC on a max-speed sim whose market waits on a Foreground the test
    drives (max_wait_s long enough never to be the reason it moves)."""
    engine = make_engine(store, max_candles=5_000)
    fg = Foreground(max_wait_s=60)
    engine.hub.foreground = fg
    h = Harness(engine)
    await h.start()
    try:
        await h.do(AddBot(config=BotConfig(name="b", symbols=("BTC/USDT",)), start=True))
        runner = engine.runners["b"]
        await h.drain(
            lambda: "BTC/USDT" in runner.marks and (engine.hub.virtual_ms or 0) > 0, timeout=30
        )
        yield h, fg, runner
    finally:
        fg.idle()
        await h.stop()


async def park_a_tick(fg: Foreground, runner: BotRunner, price: float) -> None:
    """The UI turns busy; once the candle in progress is done, a tick reaches the bot."""
    fg.busy()
    await asyncio.sleep(0.1)
    runner.inbox.put_nowait(Tick(StreamKey("sim", "BTC/USDT", runner.config.timeframe), 0, price))


async def test_the_market_stands_still_while_the_ui_is_busy(store: Store) -> None:
    async with trading_bot(store) as (h, fg, _runner):
        engine = h.engine
        fg.busy()
        await asyncio.sleep(0.1)  # the step in progress finishes
        frozen = engine.hub.virtual_ms
        await asyncio.sleep(0.3)
        assert engine.hub.virtual_ms == frozen
        done = await h.do(PauseBot(name="b"), timeout=5)  # commands still answered
        assert done.ok, done.message
        assert engine.hub.virtual_ms == frozen
        fg.idle()
        await h.drain(lambda: engine.hub.virtual_ms != frozen, timeout=10)


async def test_each_bot_parks_between_inbox_items_while_the_ui_is_busy(store: Store) -> None:
    """The market stops between candles, but a candle fans out to 20 bots: each bot also waits
    its turn before every item, so a key is not stuck behind a whole candle's work."""
    async with trading_bot(store) as (h, fg, runner):
        seen: list[float] = []
        on_tick = runner._on_tick

        async def spy(tick: Tick) -> None:
            seen.append(tick.price)
            await on_tick(tick)

        runner._on_tick = spy  # type: ignore[method-assign]
        await park_a_tick(fg, runner, 123.0)
        seen.clear()  # what the bot saw before the UI turned busy
        await asyncio.sleep(0.3)
        assert runner.inbox.qsize() == 0 and seen == []  # taken, but parked
        fg.idle()
        await h.drain(lambda: 123.0 in seen, timeout=5)
        assert seen[0] == 123.0


async def test_stopping_a_parked_bot_lets_the_market_move_on(store: Store) -> None:
    async with trading_bot(store) as (h, fg, runner):
        await park_a_tick(fg, runner, 123.0)
        await asyncio.sleep(0.1)  # parked with the item taken
        done = await h.do(StopBot(name="b"), timeout=5)
        assert done.ok, done.message
        # the item counts as handled: a lockstep market waiting on this inbox is not stuck
        await asyncio.wait_for(runner.inbox.join(), 2)
