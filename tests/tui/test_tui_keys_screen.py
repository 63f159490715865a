"""The keys screen: masked inputs with a reveal toggle, save/delete through the keyring in a
worker thread, failures shown as a toast (never a freeze)."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail
from textual.widgets import Input
from tui_doubles import MemoryKeyring
from tui_pilot import notifications
from tui_pilot import ready as _settle

from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.keys import KeysScreen


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(previous)


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def test_set_reveal_and_delete_a_key(
    scripted_client, fixed_clock, memory_keyring, monkeypatch
):
    monkeypatch.delenv("OXBOT_OPENAI_API_KEY", raising=False)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot)
        await pilot.press("K")
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, KeysScreen)
        assert "no keys stored yet" in _text(screen, "#keys-list")
        await pilot.press(*"openai")
        await pilot.pause(0.1)
        key_input = screen.query_one("#key-api_key", Input)
        assert key_input.password  # masked by default
        key_input.value = "sk-test-1234567890abcd"
        await pilot.click("#keys-reveal")
        await pilot.pause(0.05)
        assert not key_input.password
        await pilot.click("#keys-save")
        await _settle(pilot)
        assert "saved and read back" in _text(screen, "#keys-status")
        assert key_input.value == ""  # the key leaves the screen once stored
        listing = _text(screen, "#keys-list")
        assert "openai" in listing and "abcd" in listing and "1234567890" not in listing
        assert any("sk-test-1234567890abcd" in v for v in memory_keyring.store.values())
        await pilot.click("#keys-delete")
        await _settle(pilot)
        assert "deleted" in _text(screen, "#keys-status")
        assert not any("sk-test" in v for v in memory_keyring.store.values())


async def test_broken_keyring_is_a_toast_not_a_freeze(scripted_client, fixed_clock):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        app = OxbotApp(scripted_client, clock=fixed_clock)
        async with app.run_test(size=(100, 30)) as pilot:
            await _settle(pilot)
            await pilot.press("K")
            await pilot.press(*"openai")
            await pilot.pause(0.1)
            app.screen.query_one("#key-api_key", Input).value = "sk-zzz-000000000000"
            await pilot.click("#keys-save")
            await _settle(pilot)
            errors = [n for n in notifications(app) if n.severity == "error"]
            assert errors and "keyring" in errors[-1].message.lower()
            assert "sk-zzz" not in errors[-1].message
            await pilot.press("escape")
            assert not isinstance(app.screen, KeysScreen)
    finally:
        keyring.set_keyring(previous)
