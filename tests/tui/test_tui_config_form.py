"""The bot configuration form: validated as typed, errors beside the field, Save refused until
valid, LIVE confirmed, and the app submits exactly one complete BotConfig."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Button, Input, Select
from tui_sim import wait_until

from oxbot.engine import messages as m
from oxbot.engine.models import Mode
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.bot_config import BotConfigScreen
from oxbot.tui.screens.confirm import ConfirmScreen


async def _open_new(pilot) -> BotConfigScreen:
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, BotConfigScreen), "the form")
    screen = pilot.app.screen
    assert isinstance(screen, BotConfigScreen)
    return screen


def _sent(client, kind):  # type: ignore[no-untyped-def]
    return [c for c in client.commands if isinstance(c, kind)]


async def _asked(pilot) -> None:
    """Until the LIVE question is up and laid out: a click before its buttons have a place on
    screen lands elsewhere (a loaded machine)."""

    def drawn() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, ConfirmScreen) and all(
            b.region.area for b in screen.query(Button)
        )

    await wait_until(pilot, drawn, "the LIVE question on screen")


def _error(screen: BotConfigScreen, key: str) -> str:
    w = screen.query_one(f"#e-{key}")
    return str(w.render()) if w.display else ""


def _checks(screen: BotConfigScreen) -> list[int]:
    """How many times the form has checked itself (``validate``), counted from now on."""
    seen: list[int] | None = screen.__dict__.get("_test_checks")
    if seen is None:
        seen = [0]
        original = screen.validate

        def counted():  # type: ignore[no-untyped-def]
            seen[0] += 1
            return original()

        screen.validate = counted  # type: ignore[method-assign]
        screen.__dict__["_test_checks"] = seen
    return seen


async def _set(pilot, screen: BotConfigScreen, selector: str, value: str) -> None:
    """Type ``value`` into a field and wait until the form has checked it: its Input.Changed
    reaches the screen through the widget's message queue, later than any fixed pause on a
    loaded machine (a 20 ms pause failed under load)."""
    w = screen.query_one(selector, Input)
    if w.value == value:
        return
    checks = _checks(screen)
    before = checks[0]
    w.value = value
    await wait_until(pilot, lambda: checks[0] > before, f"{selector} = {value!r} checked")


async def test_valid_new_bot_is_submitted_whole(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open_new(pilot)
        assert screen.query_one("#save", Button).disabled  # no name yet
        await pilot.press(*"gamma")  # the name field has focus
        await pilot.pause(0.05)
        await _set(pilot, screen, "#f-symbols", "eth/usdt, sol/usdt")
        await _set(pilot, screen, "#f-capital", "2500")
        await _set(pilot, screen, "#p-fast", "5")
        await _set(pilot, screen, "#p-slow", "20")
        assert not screen.query_one("#save", Button).disabled
        await pilot.click("#save")
        await wait_until(pilot, lambda: _sent(scripted_client, m.AddBot), "the bot submitted")
        add = _sent(scripted_client, m.AddBot)
        assert len(add) == 1
        cfg = add[0].config
        assert cfg.name == "gamma" and cfg.symbols == ("ETH/USDT", "SOL/USDT")
        assert cfg.capital == Decimal("2500") and cfg.params == {"fast": 5, "slow": 20}
        assert cfg.mode is Mode.PAPER


async def test_invalid_input_shows_error_beside_field_and_save_refused(
    scripted_client, fixed_clock
):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open_new(pilot)
        await pilot.press(*"alpha")  # taken
        await wait_until(pilot, lambda: "already exists" in _error(screen, "name"), "the error")
        await _set(pilot, screen, "#f-name", "delta")
        assert _error(screen, "name") == ""
        await _set(pilot, screen, "#f-symbols", "BTCUSDT")
        assert "BASE/QUOTE" in _error(screen, "symbols")
        await _set(pilot, screen, "#f-symbols", "BTC/USDT")
        await _set(pilot, screen, "#f-capital", "-5")
        assert "greater than 0" in _error(screen, "capital")
        await _set(pilot, screen, "#f-capital", "1000")
        await _set(pilot, screen, "#p-fast", "50")  # fast must stay below slow (30)
        assert "slow" in _error(screen, "params")
        await _set(pilot, screen, "#p-fast", "x")
        assert "integer" in _error(screen, "p-fast")
        await _set(pilot, screen, "#f-risk-max_position_pct", "150")
        assert "100" in _error(screen, "risk-max_position_pct")
        assert screen.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")  # refused: still open, nothing sent
        assert app.screen is screen
        assert not [c for c in scripted_client.commands if isinstance(c, m.AddBot)]
        await _set(pilot, screen, "#p-fast", "10")
        await _set(pilot, screen, "#f-risk-max_position_pct", "15")
        assert not screen.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: _sent(scripted_client, m.AddBot), "the bot submitted")
        assert [c.config.name for c in _sent(scripted_client, m.AddBot)] == ["delta"]


async def test_live_needs_confirmation_and_edit_sends_update(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, BotConfigScreen), "the form")
        screen = app.screen
        assert isinstance(screen, BotConfigScreen)
        # on the sim market LIVE is refused at once, beside Mode, before any confirmation
        screen.query_one("#f-mode", Select).value = "live"
        await wait_until(pilot, lambda: "real exchange" in _error(screen, "mode"), "refused")
        assert app.screen is screen
        assert screen.query_one("#f-mode", Select).value == "paper"
        assert "real exchange" in _error(screen, "mode")
        await _set(pilot, screen, "#f-exchange", "binance")  # LIVE needs a real exchange
        assert _error(screen, "mode") == ""
        screen.query_one("#f-mode", Select).value = "live"
        await _asked(pilot)
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: app.screen is screen, "the question closed")
        assert screen.query_one("#f-mode", Select).value == "paper"
        screen.query_one("#f-mode", Select).value = "live"
        await _asked(pilot)
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: app.screen is screen, "the question closed")
        await _set(pilot, screen, "#f-exchange", "sim")  # back to sim while LIVE
        assert screen.query_one("#save", Button).disabled
        assert "real exchange" in _error(screen, "exchange")  # beside Exchange
        await _set(pilot, screen, "#f-exchange", "binance")
        await _set(pilot, screen, "#f-capital", "12000")
        await pilot.click("#save")
        await wait_until(pilot, lambda: _sent(scripted_client, m.UpdateBot), "the update sent")
        upd = _sent(scripted_client, m.UpdateBot)
        assert len(upd) == 1 and upd[0].name == "alpha"
        assert upd[0].config.mode is Mode.LIVE and upd[0].config.capital == Decimal("12000")


async def test_switching_strategy_rebuilds_parameters(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await _open_new(pilot)
        assert screen.query("#p-fast")
        screen.query_one("#f-strategy", Select).value = "rsi_reversion"
        await wait_until(
            pilot,
            lambda: not screen.query("#p-fast") and screen.query("#p-oversold"),
            "the parameters rebuilt",
        )
        await _set(pilot, screen, "#p-oversold", "80")
        assert _error(screen, "params")  # oversold must be below overbought
