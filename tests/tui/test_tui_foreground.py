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
        # busy, then idle once the key's frame is drawn (a periodic redraw may come and go
        # around it on a loaded machine: its own busy/idle pair says nothing against this)
        await wait_until(
            pilot,
            lambda: "busy" in seen and "idle" in seen[seen.index("busy") :],
            "the frame after the key",
            detail=lambda: str(seen),
        )
        await wait_until(pilot, lambda: not fg.is_busy, "the UI idle again: never left busy")


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


async def test_a_stream_of_engine_events_is_drawn_at_most_ten_times_a_second(sim_client):
    """Coalescing: with bots trading at max speed, the panels are redrawn every
    REDRAW_INTERVAL_S, not once per event and not twice per interval (a pending timer and an
    overdue batch used to both draw)."""
    import time

    from oxbot.tui.redraw import REDRAW_INTERVAL_S

    client = sim_client(sim_bots(4), 20_000)
    app = OxbotApp(client)
    flushes: list[float] = []
    flush = app.redraws.flush

    def counted() -> None:
        if "bots-now" not in app.redraws.dirty:  # a status change is drawn at once, on purpose
            flushes.append(time.monotonic())
        flush()

    app.redraws.flush = counted  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.engine_ts > 0, "the market to move")
        await pilot.pause(0.5)
        flushes.clear()
        # it does draw, continuously: 5 redraws, however long a loaded machine takes for them
        deadline = time.monotonic() + 30
        while len(flushes) < 6 and time.monotonic() < deadline:
            await pilot.pause(0.1)
        gaps = [b - a for a, b in zip(flushes, flushes[1:], strict=False)]
        assert len(flushes) >= 6, flushes
        assert min(gaps) >= REDRAW_INTERVAL_S * 0.8, sorted(gaps)[:5]


async def test_events_arriving_while_the_app_closes_raise_nothing(scripted_client) -> None:
    """An engine keeps sending while the cockpit quits: what arrives after the last screen is
    gone changes the state and draws nothing (it used to raise ScreenStackError, a traceback
    at quit; seen under load)."""
    from decimal import Decimal

    from oxbot.engine import messages as m

    app = OxbotApp(scripted_client)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
    assert not app.screen_stack
    app.inbox.listener(
        m.OrderFilled(
            0,
            "alpha",
            "BTC/USDT",
            "buy",
            Decimal("0.01"),
            Decimal("50000"),
            Decimal("0.5"),
            "entry",
        )
    )
    app._events_arrived()  # the handler the inbox's message runs
    assert app.state.fills
