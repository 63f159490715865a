"""A max-speed replay steps aside while an in-process cockpit draws: the market stands still
while the UI says busy, commands are still answered meanwhile, and it moves on when the UI is
idle again (or after max_wait_s, so a UI that never says idle cannot stall trading)."""

from __future__ import annotations

import asyncio
import threading

from oxbot.engine.foreground import Foreground
from oxbot.engine.messages import AddBot, PauseBot
from oxbot.engine.models import BotConfig
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


async def test_the_market_stands_still_while_the_ui_is_busy(store: Store) -> None:
    engine = make_engine(store, max_candles=5_000)
    fg = Foreground(max_wait_s=60)
    engine.hub.foreground = fg
    h = Harness(engine)
    await h.start()
    try:
        await h.do(AddBot(config=BotConfig(name="b", symbols=("BTC/USDT",)), start=True))
        await h.drain(lambda: (engine.hub.virtual_ms or 0) > 0, timeout=30)
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
    finally:
        fg.idle()
        await h.stop()
