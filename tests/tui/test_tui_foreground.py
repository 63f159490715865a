"""The cockpit tells an in-process engine when it is drawing (engine/foreground.py): busy from a
key or a redraw until the frame is on screen, never left busy."""

from __future__ import annotations

from tui_sim import open_dialog, sim_bots, wait_until

from oxbot.tui.app import OxbotApp


async def test_a_key_marks_the_ui_busy_until_the_frame_is_drawn(sim_client):
    client = sim_client(sim_bots(2, running=False), 5, running=False)
    app = OxbotApp(client)
    seen: list[str] = []
    fg = client.foreground
    busy, idle = fg.busy, fg.idle
    fg.busy = lambda: (seen.append("busy"), busy())[1]  # type: ignore[method-assign]
    fg.idle = lambda: (seen.append("idle"), idle())[1]  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "DashboardScreen")
        assert client.engine.hub.foreground is fg  # the market conductor reads this one
        await wait_until(pilot, lambda: not fg.is_busy, "the UI to be idle")
        seen.clear()
        await pilot.press("j")
        await wait_until(pilot, lambda: "idle" in seen, "the frame after the key")
        assert seen[0] == "busy"
        await pilot.pause(0.2)
        assert not fg.is_busy
