"""Against the REAL engine: after a restart the Fills panel shows the stored fills (the app
asks with RequestRecentFills), not an empty log while positions and equity come back."""

from __future__ import annotations

from tui_sim import SIM_T0, sim_bots
from waiting import describe, wait_for

from oxbot.tui.app import OxbotApp
from oxbot.tui.widgets.fills_log import FillsLog

CANDLES = 78


def _client(db, bots, candles: int, start_ts: int):
    from oxbot.app.inprocess import InProcessClient
    from oxbot.app.runtime import RuntimeOptions, build_engine
    from oxbot.engine.market.sim import SimConfig
    from oxbot.engine.models import BotStatus
    from oxbot.storage.store import Store

    opts = RuntimeOptions(
        db_path=db,
        sim=SimConfig(seed=7, speed=None, max_candles=candles, start_ts=start_ts),
        key_resolver=lambda _name: None,
        snapshot_every_s=None,
    )

    async def factory():
        store = await Store.open(opts.db_path)
        for cfg in bots:
            await store.save_bot(cfg, BotStatus.RUNNING)
        return await build_engine(opts, store=store)

    return InProcessClient(factory)


async def _wait(pilot, predicate, timeout: float = 20.0) -> None:
    await wait_for(predicate, timeout, describe(predicate), pause=lambda: pilot.pause(0.05))


async def test_fills_panel_is_filled_from_the_store_after_a_restart(tmp_path):
    db = tmp_path / "oxbot.db"
    first = _client(db, sim_bots(1), CANDLES, SIM_T0)
    app = OxbotApp(first)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _wait(pilot, lambda: app.state.fills_total > 0)
            await pilot.pause(0.5)
    finally:
        first.stop(10.0)
    seen = {f.client_order_id for f in app.state.fills}
    assert seen

    second = _client(db, [], 1, SIM_T0 + CANDLES * 60_000)  # bots come from the database
    app2 = OxbotApp(second)
    try:
        async with app2.run_test(size=(120, 40)) as pilot:
            await _wait(pilot, lambda: seen <= {f.client_order_id for f in app2.state.fills})
            await pilot.pause(0.3)
            lines = [str(s.text) for s in app2.screen.query_one(FillsLog).lines]
            assert any("bot00 BUY" in line for line in lines), lines
    finally:
        second.stop(10.0)
