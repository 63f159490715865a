"""What the header, footer, help, form and dialogs say."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import tui_doubles as d
from textual.widgets import Button
from tui_pilot import drawn, notifications, screen_text
from tui_pilot import ready as _ready

from oxbot.engine import messages as m
from oxbot.engine.models import BotConfig, BotStatus, Mode
from oxbot.tui import formatting as fmt
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.bot_config import BotConfigScreen
from oxbot.tui.screens.delete_confirm import DeleteBotScreen
from oxbot.tui.screens.help import HelpScreen
from oxbot.tui.widgets.bots_table import BotsTable


def _footer(app: OxbotApp) -> str:
    return screen_text(app).splitlines()[-1]


def test_tiny_moves_keep_their_sign():
    assert fmt.signed_pct(Decimal("-0.0042")) == "-<0.01%"
    assert fmt.signed_pct(Decimal("-0.0089")) == "-0.01%"
    assert fmt.signed_pct(Decimal("0.004")) == "+<0.01%"
    assert fmt.signed_pct(0) == "±0.00%" and fmt.signed_pct(Decimal("-1.234")) == "-1.23%"
    assert fmt.qty(Decimal("0.01581948")) == "0.015819" and fmt.qty(Decimal("2.50")) == "2.5"


async def test_footer_fits_80_columns_and_says_resume_when_paused(fixed_clock):
    client = d.ScriptedEngineClient([d.bot_view("alpha", BotStatus.PAUSED)])
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        await pilot.pause(0.2)
        footer = _footer(app)
        assert "? Help" in footer and "^p Palette" in footer and "^x PANIC" in footer
        assert "␣ Resume" in footer and "Pause" not in footer
        assert "e Edit" in footer  # fits exactly: no gap is counted after the last key
        last = footer.split()[-1]
        assert len(last) > 1 or not last.isalnum()  # no key left without its label
        flatten_at = footer.index("f Flatten")
        await pilot.press("space")
        await pilot.pause(0.2)
        assert [c.name for c in client.commands if isinstance(c, m.ResumeBot)] == ["alpha"]
        for _ in range(100):  # the relabel lands after a refresh
            if "␣ Pause" in _footer(app):
                break
            await pilot.pause(0.05)
        assert "␣ Pause" in _footer(app) and "e Edit" in _footer(app)
        # Pause is padded to Resume's width: the relabel moves no other key (no layout)
        assert _footer(app).index("f Flatten") == flatten_at


async def test_help_and_palette_show_keys_as_typed(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "question_mark" not in text and "?" in text
        assert "Small terminals" in text  # 1-4 say where they work
        await pilot.press("escape")
        from oxbot.tui.commands import OxbotCommands

        provider = OxbotCommands(app.screen)
        helps = [h for _, h, _ in provider._commands()]
        assert "key: space" in helps
        assert not any("question_mark" in h for h in helps)
        assert any(h == "key: ?" for h in helps)


async def test_header_says_live_only_while_a_live_bot_is_active(fixed_clock):
    live = replace(
        d.bot_view("real", BotStatus.STOPPED),
        config=BotConfig(name="real", exchange="binance", mode=Mode.LIVE),
    )
    client = d.ScriptedEngineClient([live, d.bot_view("paperbot")])
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        header = screen_text(app).splitlines()[0]
        assert "LIVE (stopped)" in header and "REAL MONEY" not in header
        client._set("real", BotStatus.RUNNING)
        await pilot.pause(0.3)
        assert "LIVE — REAL MONEY" in screen_text(app).splitlines()[0]


async def test_next_in_is_unknown_before_market_time(fixed_clock):
    client = d.ScriptedEngineClient([d.bot_view("alpha")])
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        table = app.screen.query_one(BotsTable)
        cells = table.row_text("alpha")
        assert app.state.engine_ts == 0 and cells["next"] == "—"


async def test_new_bot_form_is_quiet_then_selects_the_new_bot(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("n")
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, BotConfigScreen)
        assert not [w for w in screen.query(".field-error") if w.display]  # nothing typed
        assert screen.query_one("#save", Button).disabled
        await pilot.press(*"gamma")
        await pilot.pause(0.05)
        await pilot.click("#save")
        await pilot.pause(0.3)
        assert app.screen.query_one(BotsTable).selected == "gamma"
        assert app.screen.selected == "gamma"


async def test_refused_update_brings_the_form_back_with_the_reason(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    real_submit = scripted_client.submit

    def refuse_updates(command):
        if isinstance(command, m.UpdateBot):
            scripted_client.commands.append(command)
            scripted_client.emit(
                m.CommandDone(
                    0,
                    command.request_id,
                    "UpdateBot",
                    False,
                    "alpha has open positions: flatten it (f) before changing its symbols",
                )
            )
            return
        real_submit(command)

    scripted_client.submit = refuse_updates
    async with app.run_test(size=(100, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("e")
        await pilot.pause(0.1)
        app.screen.query_one("#f-symbols").value = "ETH/USDT"
        await pilot.pause(0.05)
        await pilot.click("#save")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, BotConfigScreen)  # back, not a silent success
        assert "NOT SAVED" in screen_text(app) and "flatten it (f)" in screen_text(app)
        assert screen.query_one("#f-symbols").value == "ETH/USDT"  # what the user typed
        # said once, in the form: no toast repeating it over the form
        assert not [n for n in notifications(app) if "flatten it (f)" in n.message]


async def test_delete_checkbox_shows_its_state_in_text(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, DeleteBotScreen)
        assert "[ ] Also purge" in screen_text(app)
        await pilot.click("#purge")
        await pilot.pause(0.1)
        assert "[✓] Also purge" in screen_text(app)


async def test_equity_chart_says_when_bots_are_left_out(fixed_clock):
    from oxbot.tui.widgets.equity_chart import MAX_OVERLAID, EquityChart

    bots = [d.bot_view(f"b{i:02d}") for i in range(MAX_OVERLAID + 2)]
    app = OxbotApp(d.ScriptedEngineClient(bots), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        for i in range(MAX_OVERLAID + 2):
            for t in range(3):
                app.inbox.listener(
                    m.EquitySampled(d.T0 + t * 60_000, f"b{i:02d}", Decimal(10_000 + i * 10 + t))
                )
        await pilot.press("escape")
        await drawn(
            pilot,
            lambda: " of " in screen_text(app) and "10,0" in screen_text(app),
            "the equity chart with its legend and axis labels",
        )
        text = screen_text(app)
        assert f"top {MAX_OVERLAID} of {MAX_OVERLAID + 2} bots" in text
        assert "10,0" in text  # axis labels with thousands separators
        chart = app.screen.query_one(EquityChart)
        assert chart.size.height > 3


async def test_attached_cockpit_says_so(fixed_clock, tmp_path):
    class Attached(d.ScriptedEngineClient):
        db = tmp_path / "oxbot.db"

        @property
        def attached(self) -> bool:
            return True

    app = OxbotApp(Attached([d.bot_view("alpha")]), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        head = screen_text(app).splitlines()[0]
        # the bots count first, then where the engine runs (issue 14 tryout: with a fast sim's
        # market clock the old "(attached to engine, db oxbot.db)" pushed the count off)
        assert "engine running  bots 1/1 running  attached: oxbot.db" in head


async def test_selected_row_is_one_readable_colour_in_the_contrast_theme(
    scripted_client, fixed_clock
):
    class S:
        theme = "oxbot-contrast"
        keymap: dict[str, str] = {}

    app = OxbotApp(scripted_client, settings=S(), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        table = app.screen.query_one(BotsTable)
        assert table.has_focus and table.cursor == 0
        colours = {
            seg.style.color.name
            for seg in table.render_line(1)
            if seg.text.strip() and seg.style and seg.style.color
        }
        assert colours == {"black"}, colours  # not bright green/white on bright cyan


async def test_attached_to_an_engine_on_postgresql_says_which_database(fixed_clock):
    """The engine's database is a URL (storage/paths.py DbUrl, a str): the label is the
    database's name, as short as a file's (adversary F9: `.name` crashed `oxbot attach` on
    PostgreSQL at once)."""
    from oxbot.storage.paths import DbUrl

    class Attached(d.ScriptedEngineClient):
        db = DbUrl("postgresql+asyncpg://oxbot@10.0.0.5:5432/ledger")

        @property
        def attached(self) -> bool:
            return True

    app = OxbotApp(Attached([d.bot_view("alpha")]), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        head = screen_text(app).splitlines()[0]
        assert "attached: pg:ledger" in head and "oxbot@" not in head


def test_a_static_whose_css_fixes_its_size_is_updated_without_a_layout():
    from textual.widgets import Static

    from oxbot.tui.widgets.static_text import update_static

    asked: list[bool] = []

    class Probe(Static):
        def update(self, content="", *, layout=True):  # type: ignore[override]
            asked.append(layout)

    fixed, auto = Probe(), Probe()
    fixed.styles.width, fixed.styles.height = "1fr", 1  # the header's figures
    auto.styles.width, auto.styles.height = "auto", 1  # the header's clock
    for text in ("bots 9/20 running", "bots 10/20 running", "bots 11/20 running"):
        update_static(fixed, text)
        update_static(auto, text)
    assert asked[0::2] == [False, False, False]  # the size is the CSS's, whatever it says
    assert asked[1::2] == [True, True, False]  # first and wider: laid out; same width: not
