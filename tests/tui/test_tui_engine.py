"""Pilot tests against the REAL engine (InProcessClient, seeded sim at max speed, temp DB):
keys drive real bots, and what the screen shows is what the engine did."""

from __future__ import annotations

from tui_pilot import notifications, screen_text
from tui_sim import settle, sim_bots
from waiting import describe, wait_for

from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.confirm import ConfirmScreen

CANDLES = 78  # seed 7: bot00 makes a round trip, bot01 holds a position at the end


async def wait_until(pilot, predicate, timeout: float = 15.0) -> None:
    """Wait while the app draws; on timeout show the screen."""
    await wait_for(
        predicate,
        timeout,
        describe(predicate),
        pause=lambda: pilot.pause(0.05),
        detail=lambda: screen_text(pilot.app),
    )


async def test_start_a_stopped_bot_see_it_trade_then_stop_it(sim_client):
    client = sim_client(sim_bots(1), CANDLES, running=False)
    app = OxbotApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "bot00" in app.state.bots)
        await pilot.pause(0.4)
        assert "■ stopped" in screen_text(app)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.state.bots["bot00"].trades > 0, 30)
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "▶ running" in text
        assert "bot00 BUY" in text  # the fill is in the Fills panel
        await pilot.press("x")
        await pilot.pause(0.2)
        if app.state.bots["bot00"].open_positions:  # it asks keep or close: keep
            assert type(app.screen).__name__ == "StopBotScreen"
            await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.bots["bot00"].status.value == "stopped")
        await pilot.pause(0.4)
        assert "■ stopped" in screen_text(app)


async def test_panic_flattens_everything_and_reports_done(sim_client):
    app = OxbotApp(sim_client(sim_bots(2), CANDLES))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, CANDLES)
        assert app.state.positions
        await pilot.press("ctrl+x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: any("PANIC done" in n.message for n in notifications(app)))
        await pilot.pause(0.4)
        assert not app.state.positions
        assert all(b.status.value == "stopped" for b in app.state.bots.values())
        assert "Positions · bot00 (0)" in screen_text(app)
