"""The bot form's parameters: an LLM bot can be saved as offered (dict params default to
their factory value, cleared dicts mean the default), bool params are a yes/no choice."""

from __future__ import annotations

from textual.widgets import Button, Input, Select
from waiting import wait_for

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.bot_config import BotConfigScreen


async def _open_new(pilot) -> BotConfigScreen:
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.press("n")
    await pilot.pause(0.1)
    assert isinstance(pilot.app.screen, BotConfigScreen)
    return pilot.app.screen


def _visible_errors(screen: BotConfigScreen) -> list[str]:
    texts = [str(w.render()) for w in screen.query(".field-error") if w.display]
    return [t for t in texts if t.strip()]  # an empty error line shows nothing to a user


async def test_new_llm_bot_saves_with_the_offered_values(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open_new(pilot)
        await pilot.press(*"thinker")
        screen.query_one("#f-strategy", Select).value = "llm"
        await pilot.pause(0.2)
        prices = screen.query_one("#p-prices", Input)
        assert prices.value == "{}"  # the real default, not "PydanticUndefined"
        assert _visible_errors(screen) == []
        prices.value = ""  # cleared: means the default, not an error
        await pilot.pause(0.05)
        assert _visible_errors(screen) == []
        trigger = screen.query_one("#p-trigger_rsi_cross", Select)  # a choice, not free text
        assert trigger.value is True
        trigger.value = False
        await pilot.pause(0.05)
        assert not screen.query_one("#save", Button).disabled
        await pilot.click("#save")
        await pilot.pause(0.05)
        add = [c for c in scripted_client.commands if isinstance(c, m.AddBot)]
        assert len(add) == 1
        params = add[0].config.params
        assert params["prices"] == {} and params["trigger_rsi_cross"] is False
        assert params["trigger_ema_cross"] is True


async def test_live_form_says_at_once_whether_the_exchange_key_exists(
    scripted_client, fixed_clock, monkeypatch
):
    import keyring
    from tui_doubles import MemoryKeyring

    from oxbot.tui.screens.confirm import ConfirmScreen

    monkeypatch.delenv("OXBOT_BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("OXBOT_BINANCE_SECRET", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        app = OxbotApp(scripted_client, clock=fixed_clock)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = await _open_new(pilot)
            screen.query_one("#f-exchange", Input).value = "binance"
            await pilot.pause(0.05)
            screen.query_one("#f-mode", Select).value = "live"
            # the question opens once the change has been handled: waited for (a loaded
            # machine handles it later than any fixed pause)
            await wait_for(
                lambda: isinstance(app.screen, ConfirmScreen),
                20,
                "the LIVE question",
                pause=pilot.pause,
            )
            await pilot.click("#confirm")
            await wait_for(
                lambda: app.screen is screen, 20, "the question closed", pause=pilot.pause
            )
            # the lookup runs in a worker thread: waited for, up to 20 s on a loaded machine
            note = screen.query_one("#keys-note")
            await wait_for(
                lambda: "no API key for binance" in str(note.render()) if note.display else False,
                20,
                "the note that binance has no key",
                pause=pilot.pause,
            )
            monkeypatch.setenv("OXBOT_BINANCE_API_KEY", "k" * 20)
            monkeypatch.setenv("OXBOT_BINANCE_SECRET", "s" * 20)
            screen.query_one("#f-exchange", Input).value = "okx"
            await pilot.pause(0.05)
            screen.query_one("#f-exchange", Input).value = "binance"  # asked again
            await wait_for(
                lambda: "binance API key found (env)" in str(note.render()),
                20,
                "the note that the key was found",
                pause=pilot.pause,
            )
    finally:
        keyring.set_keyring(previous)
