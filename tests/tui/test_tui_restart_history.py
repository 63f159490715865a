"""A fresh cockpit shows what happened before it started: the reasoning panel is filled with the
bot's stored decisions (it was empty after every restart), and a capital edit shows in it.

Through the real path: the real Engine and Store trade on the seeded sim market and stop; a new
cockpit (InProcessClient, a new Engine on the same database) opens and is read as a user would.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from tui_pilot import drawn, screen_text
from tui_sim import SIM_T0
from waiting import wait_for

from oxbot.app.inprocess import InProcessClient
from oxbot.app.runtime import RuntimeOptions, build_engine
from oxbot.engine.market.sim import SimConfig
from oxbot.engine.messages import AddBot, DecisionMade, UpdateBot
from oxbot.engine.models import BotConfig, BotStatus
from oxbot.storage.store import Store
from oxbot.tui.app import OxbotApp

CANDLES = 120


def options(db: Path, candles: int = CANDLES) -> RuntimeOptions:
    return RuntimeOptions(
        db_path=db,
        sim=SimConfig(seed=7, speed=None, max_candles=candles, start_ts=SIM_T0),
        key_resolver=lambda _name: None,
        snapshot_every_s=None,
    )


async def trade_and_stop(db: Path) -> list[DecisionMade]:
    """A first engine: one bot trades until the market ends, its capital is edited, then the
    engine stops. Returns the decisions it published."""
    engine = await build_engine(options(db))
    seen: list[DecisionMade] = []
    done: list[object] = []
    engine.bus.listen(lambda e: seen.append(e) if isinstance(e, DecisionMade) else done.append(e))
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(engine.ready.wait(), 30)
    cfg = BotConfig(name="hist", symbols=("BTC/USDT",), params={"fast": 3, "slow": 8})
    engine.submit(AddBot("a1", config=cfg, start=True))
    hub = engine.hub
    await wait_for(
        lambda: hub._streams and all(s.ended for s in hub._streams.values()),
        60,
        "the sim to finish",
    )
    await engine.runners["hist"].inbox.join()
    engine.submit(
        UpdateBot("a2", name="hist", config=cfg.model_copy(update={"capital": Decimal("12000")}))
    )
    await wait_for(
        lambda: any(getattr(e, "request_id", "") == "a2" for e in done), 60, "the edit to finish"
    )
    engine.request_stop()
    await asyncio.wait_for(task, 30)
    await engine.store.close()
    return seen


async def test_a_fresh_cockpit_shows_the_stored_reasoning(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    published = await trade_and_stop(db)
    trades = [
        d for d in published if d.bot == "hist" and d.source == "rule" and d.verdict == "approved"
    ]
    assert len(trades) >= 3, "the first run should trade a few times"
    async with await Store.open(db) as store:  # the next cockpit starts it stopped
        await store.set_bot_status("hist", BotStatus.STOPPED)

    client = InProcessClient(lambda: build_engine(options(db, candles=1)))
    app = OxbotApp(client)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await drawn(
                pilot,
                lambda: "hist" in app.state.bots and app.state.reasoning.get("hist"),
                "the reasoning history",
                30,
            )
            app.dashboard.selected = "hist"
            # the panel follows the newest entry: the capital edit, shown as a deposit
            await drawn(
                pilot,
                lambda: "deposit of 2,000.00" in screen_text(app),
                "the newest entry (the deposit) shown",
                30,
            )
            text = screen_text(app)
            assert "hist: no decision yet" not in text
            assert "Reasoning · hist" in text
            assert "risk: APPROVED" in text
            # the newest stored decisions, as they were shown live
            last = trades[-1]
            entries = app.state.reasoning["hist"]
            assert any(e.ts == last.ts and e.verdict == "approved" for e in entries)
    finally:
        client.stop(10.0)
