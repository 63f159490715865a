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


async def test_a_key_marks_the_ui_busy_on_the_input_thread_before_the_app_wakes(sim_client):
    """Textual's input thread builds the message-posting coroutine itself: the replay is told to
    step aside right there, not once the app's loop has won the interpreter lock back."""
    import threading

    from textual import events

    client = sim_client(sim_bots(2, running=False), 5, running=False)
    app = OxbotApp(client)
    fg = client.foreground
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "DashboardScreen")
        await wait_until(pilot, lambda: not fg.is_busy, "the UI to be idle")
        made: list[object] = []
        key = events.Key("j", "j")
        reader = threading.Thread(target=lambda: made.append(app._post_message(key)))
        reader.start()
        reader.join()
        assert fg.is_busy  # before the app has run anything
        await made[0]  # type: ignore[misc]
        await wait_until(pilot, lambda: not fg.is_busy, "the frame after the key")
