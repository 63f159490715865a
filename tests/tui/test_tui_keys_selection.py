"""Keys and selection: a key pressed right after j/k acts on the bot the
cursor is on, even when both keys arrive in one read (as over SSH)."""

from __future__ import annotations

from dataclasses import replace

from textual import events
from tui_pilot import ready as _ready

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp


def _burst(app: OxbotApp, *keys: str) -> None:
    """Post keys back to back without letting the app run in between: what a terminal does
    when several keys arrive in one read."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


def _sent(client, kind):
    return [c for c in client.commands if isinstance(c, kind)]


async def test_key_right_after_cursor_move_acts_on_the_new_bot(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        # flat, so that x stops at once (a bot holding positions asks keep or close first)
        scripted_client.bots["alpha"] = replace(scripted_client.bots["alpha"], open_positions=0)
        scripted_client.emit(m.BotStateChanged(0, scripted_client.bots["alpha"]))
        await pilot.press("home")
        _burst(app, "j", "s")  # beta is stopped: s must start beta (not be refused for alpha)
        await pilot.pause(0.1)
        assert [c.name for c in _sent(scripted_client, m.StartBot)] == ["beta"]
        _burst(app, "k", "x")  # back on alpha (running): x stops alpha
        await pilot.pause(0.1)
        assert [c.name for c in _sent(scripted_client, m.StopBot)] == ["alpha"]
        _burst(app, "j", "x")  # the cursor is on beta: x stops beta, never alpha again
        await pilot.pause(0.1)
        assert [c.name for c in _sent(scripted_client, m.StopBot)] == ["alpha", "beta"]


async def test_toasts_keep_square_brackets(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await _ready(pilot)
        scripted_client.emit(
            m.EngineError(0, "no keyring: pip install 'oxbot[cryptfile]', then set [env] keys")
        )
        for _ in range(20):  # the toast rack mounts its toasts a frame later
            await pilot.pause(0.05)
            toasts = [str(t.render()) for t in app.screen.query("Toast")]
            if toasts:
                break
        assert any("oxbot[cryptfile]" in t and "[env] keys" in t for t in toasts), toasts


async def test_keys_screen_without_keyring_says_why_in_the_list(
    scripted_client, fixed_clock, monkeypatch
):
    import keyring
    from keyring.backends import fail

    from oxbot.tui.screens.keys import KeysScreen

    monkeypatch.setenv("OXBOT_OPENAI_API_KEY", "sk-env-0000000000wxyz")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        app = OxbotApp(scripted_client, clock=fixed_clock)
        async with app.run_test(size=(100, 40)) as pilot:
            await _ready(pilot)
            await pilot.press("K")
            await _ready(pilot)
            assert isinstance(app.screen, KeysScreen)
            listing = str(app.screen.query_one("#keys-list").render())
            assert "loading" not in listing
            assert "no usable keyring" in listing and "oxbot[cryptfile]" in listing
            assert "[env]" in listing and "wxyz" in listing  # environment keys still listed
    finally:
        keyring.set_keyring(previous)


async def test_a_run_of_cursor_keys_draws_the_chart_once_for_the_bot_it_ends_on(
    scripted_client, fixed_clock, monkeypatch
):
    """The equity chart (the costliest panel) waits until the keys pause: passing over a bot
    with j/k does not draw its chart; the bot the cursor stops on gets it."""
    from tui_pilot import drawn as until_drawn

    from oxbot.tui.widgets.equity_chart import EquityChart

    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        chart = app.screen.query_one(EquityChart)
        shown: list[str | None] = []
        show = chart.show

        def spy(selected, *args, **kwargs):  # type: ignore[no-untyped-def]
            shown.append(selected)
            return show(selected, *args, **kwargs)

        monkeypatch.setattr(chart, "show", spy)
        await pilot.press("home", "j")
        await until_drawn(pilot, lambda: "beta" in shown, "beta's chart")
        # wide enough that the keys below always come within it, whatever the machine's load
        monkeypatch.setattr("oxbot.tui.screens.dashboard.CHART_QUIET_S", 0.5)
        shown.clear()
        _burst(app, "k", "j")  # to alpha and back to beta
        await until_drawn(pilot, lambda: shown, "the chart after the keys")
        await pilot.pause(0.1)
        assert shown == ["beta"]
        assert app.screen.selected == "beta"
