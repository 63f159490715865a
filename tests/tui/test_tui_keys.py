"""Pilot tests: every dashboard binding does what its footer label says, through the real app
and the commands it submits (against the scripted client double; real-engine tests are in
test_tui_engine.py)."""

from __future__ import annotations

from tui_pilot import notifications, screen_text
from tui_sim import wait_until

from oxbot.engine import messages as m
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.bot_config import BotConfigScreen
from oxbot.tui.screens.confirm import ConfirmScreen
from oxbot.tui.screens.delete_confirm import DeleteBotScreen
from oxbot.tui.screens.help import HelpScreen
from oxbot.tui.screens.stop_dialogs import QuitScreen, StopBotScreen
from oxbot.tui.widgets.bots_table import BotsTable


async def _ready(pilot) -> None:
    """Until the snapshot's bots are on screen and a coalesced redraw (3 Hz) has passed: a
    loaded machine must not make the first look race the first paint."""
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    for _ in range(100):
        names = pilot.app.state.bot_names()
        if names and all(n in screen_text(pilot.app) for n in names):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.4)


def sent(client, kind):
    return [c for c in client.commands if isinstance(c, kind)]


async def test_dashboard_shows_snapshot_and_selection(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        for _ in range(100):  # the bots table repaints at 3 Hz: give a busy machine time
            text = screen_text(app)
            if "+2.50%" in text and "-1.00%" in text:
                break
            await pilot.pause(0.05)
        assert "PAPER" in text and "20,150.50" in text
        assert "▶ running" in text and "■ stopped" in text
        assert "+2.50%" in text and "-1.00%" in text, text
        assert "Positions · alpha (1)" in text
        await pilot.press("j")
        assert app.screen.selected == "beta"
        await pilot.press("k")
        assert app.screen.selected == "alpha"
        await pilot.press("escape")
        assert app.screen.selected is None
        assert "Positions · all bots (1)" in screen_text(app)


async def test_start_stop_pause_resume(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        # alpha is running: start is unavailable, stop works
        assert app.screen.check_action("start", ()) is None
        await pilot.press("s")
        assert not sent(scripted_client, m.StartBot)
        await pilot.press("space")
        assert sent(scripted_client, m.PauseBot)[0].name == "alpha"
        await pilot.pause(0.05)
        assert "⏸ paused" in screen_text(app)
        await pilot.press("space")
        assert sent(scripted_client, m.ResumeBot)[0].name == "alpha"
        await pilot.press("x")  # alpha holds a position: keep (the default) or close?
        assert isinstance(app.screen, StopBotScreen)
        await pilot.press("enter")
        await pilot.pause(0.05)
        assert sent(scripted_client, m.StopBot)[0] == m.StopBot(
            request_id=sent(scripted_client, m.StopBot)[0].request_id,
            name="alpha",
            close_positions=False,
        )
        assert screen_text(app).count("■ stopped") == 2
        await pilot.press("s")
        await pilot.pause(0.05)
        assert sent(scripted_client, m.StartBot)[0].name == "alpha"
        assert "▶ running" in screen_text(app)


async def test_flatten_asks_then_sends(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # cancel: nothing sent
        assert not sent(scripted_client, m.FlattenBot)
        await pilot.press("f")
        await pilot.click("#confirm")
        await pilot.pause(0.05)
        assert sent(scripted_client, m.FlattenBot)[0].name == "alpha"
        assert "Positions · alpha (0)" in screen_text(app)
        assert app.screen.check_action("flatten", ()) is None  # nothing left to flatten


async def test_delete_keeps_history_unless_purge_ticked(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)

        async def asked() -> None:
            await wait_until(
                pilot, lambda: isinstance(app.screen, DeleteBotScreen), "the delete question"
            )

        await pilot.press("j", "d")
        await asked()
        await pilot.press("enter")  # focus is on Cancel: enter must not delete
        await wait_until(
            pilot, lambda: not isinstance(app.screen, DeleteBotScreen), "the question closed"
        )
        assert not sent(scripted_client, m.DeleteBot)
        await pilot.press("d")
        await asked()
        await pilot.click("#purge")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: sent(scripted_client, m.DeleteBot), "the delete sent")
        cmd = sent(scripted_client, m.DeleteBot)[0]
        assert (cmd.name, cmd.purge_history) == ("beta", True)
        await wait_until(pilot, lambda: "beta" not in screen_text(app), "beta gone from screen")
        await pilot.press("d")
        await asked()
        await pilot.click("#confirm")
        await wait_until(
            pilot, lambda: len(sent(scripted_client, m.DeleteBot)) == 2, "the second delete"
        )
        assert sent(scripted_client, m.DeleteBot)[1].purge_history is False


async def test_panic_reports_done_only_when_engine_confirms(scripted_client, fixed_clock):
    scripted_client.hold_panic = True
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("ctrl+x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#confirm")
        await pilot.pause(0.05)
        assert sent(scripted_client, m.PanicAll)
        toasts = [n.message for n in notifications(app)]
        assert any("waiting for the engine" in t for t in toasts)
        assert not any("PANIC done" in t for t in toasts)
        scripted_client.release_panic()
        await pilot.pause(0.05)
        assert any("PANIC done" in n.message for n in notifications(app))
        assert "▶ running" not in screen_text(app)


async def test_help_lists_every_binding_and_theme_cycles(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for bid in (
            "bot.new",
            "bot.configure",
            "bot.start",
            "bot.stop",
            "bot.pause",
            "bot.flatten",
            "bot.delete",
            "app.quit",
            "app.help",
            "app.theme",
            "app.panic",
        ):
            assert bid in text
        await pilot.press("escape")
        assert app.theme == "oxbot-dark"
        await pilot.press("t")
        assert app.theme == "oxbot-light"
        await pilot.press("t", "t")
        assert app.theme == "oxbot-dark"


async def test_keymap_remaps_a_binding(scripted_client, fixed_clock):
    class S:
        theme = "oxbot-contrast"
        keymap = {"bot.stop": "z"}

    app = OxbotApp(scripted_client, settings=S(), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        assert app.theme == "oxbot-contrast"
        await pilot.press("x")
        assert not sent(scripted_client, m.StopBot)
        await pilot.press("z", "enter")  # enter: keep its position (the stop question)
        assert sent(scripted_client, m.StopBot)[0].name == "alpha"


async def test_new_and_edit_open_the_form_and_quit_stops_client(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, BotConfigScreen)
        await pilot.press("escape")
        await pilot.press("e")
        assert isinstance(app.screen, BotConfigScreen)
        assert app.screen.original.name == "alpha"
        await pilot.press("escape")
        await pilot.press("enter")
        assert isinstance(app.screen, BotConfigScreen)
        await pilot.press("escape")
        assert app.screen.query_one(BotsTable).has_focus
        await pilot.press("q")  # alpha runs in this cockpit: quitting asks first
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("q")  # q again, with the question open: quit
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
    assert scripted_client.stopped


async def test_command_palette_runs_actions(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"Stop the selected")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, StopBotScreen)  # alpha holds a position
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert sent(scripted_client, m.StopBot)[0].name == "alpha"


async def test_fill_bursts_become_one_toast_and_stop_loss_is_named(scripted_client, fixed_clock):
    from decimal import Decimal

    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:  # compact: the Fills panel is hidden
        await _ready(pilot)
        for i in range(5):
            scripted_client.emit(
                m.OrderFilled(
                    0,
                    "alpha",
                    "BTC/USDT",
                    "buy",
                    Decimal("0.01"),
                    Decimal(60000 + i),
                    Decimal("0.6"),
                    "entry",
                )
            )
        scripted_client.emit(
            m.OrderFilled(
                0,
                "alpha",
                "BTC/USDT",
                "sell",
                Decimal("0.05"),
                Decimal("58000"),
                Decimal("2.9"),
                "stop_loss",
            )
        )
        await pilot.pause(0.3)
        trade_toasts = [n for n in notifications(app) if n.title in ("fill", "fills", "stop-loss")]
        assert len(trade_toasts) == 1
        assert "6 fills (1 stop-loss)" in trade_toasts[0].message
        assert "STOP-LOSS" in trade_toasts[0].message
        await pilot.press("4")
        await pilot.pause(0.1)
        assert "alpha SELL" in screen_text(app) or "alpha BUY" in screen_text(app)
