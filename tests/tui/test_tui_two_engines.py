"""Several engines on one PostgreSQL database, as the cockpit shows them: a bot another engine
runs (``BotView.engine``, set by the engine, engine/engine.py ``_view``) says "on B" as its
status; an Engine column appears only when another engine is involved, and goes first when the
table is narrow (tui/widgets/bots_table.py). Edit, flatten and delete of such a bot say where
it runs instead of opening a dialog that could only end in that engine's refusal."""

from __future__ import annotations

from dataclasses import replace

import tui_doubles as d
from tui_pilot import ready as _ready

from oxbot.engine import messages as m
from oxbot.engine.models import BotStatus
from oxbot.tui.app import OxbotApp
from oxbot.tui.widgets.bots_table import BotsTable


def views() -> list:
    here = d.bot_view("alpha", equity="10250.50", positions=1, trades=4)
    idle = d.bot_view("beta", BotStatus.STOPPED, equity="9900", trades=2)
    # as engine A lists a bot engine B runs: stopped here, its owner named
    other = replace(
        d.bot_view("gamma", BotStatus.STOPPED, positions=1), engine="B", next_cycle_ts=None
    )
    return [here, idle, other]


async def test_a_bot_on_another_engine_reads_on_b_and_the_engine_column_fits(fixed_clock):
    client = d.ScriptedEngineClient(views())
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        table = app.screen.query_one(BotsTable)
        assert table.row_text("gamma")["status"] == "on B"
        assert table.row_text("alpha")["engine"] == "here"
        assert "engine" in table._keys  # noqa: SLF001 - the columns shown at this width
        header = app.screen.query_one("#header-figures")
        # gamma runs on B: not "running" here, said apart (it used to count only this engine's)
        assert "bots 1/3 running +1 on other engines" in str(header.render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        keys = table._keys  # noqa: SLF001
        assert "engine" not in keys and "status" in keys  # "on B" says it at 80 columns
        client.emit(m.BotRemoved(d.T0, "gamma"))  # one engine only: no column at any width
        await pilot.resize_terminal(160, 40)
        await pilot.pause(0.2)
        assert "engine" not in table._keys  # noqa: SLF001
        assert "bots 1/2 running  " in str(header.render()) + "  "
        assert "other engines" not in str(header.render())


async def test_edit_flatten_delete_of_a_bot_on_another_engine_say_where_it_runs(fixed_clock):
    client = d.ScriptedEngineClient(views())
    app = OxbotApp(client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        app.screen.query_one(BotsTable).select_name("gamma")
        await pilot.pause(0.1)
        for key in ("e", "f", "d"):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause(0.1)
            said = [n.message for n in app._notifications]  # noqa: SLF001
            assert any("gamma runs on engine B" in s for s in said), (key, said)
            assert app.screen is app.dashboard, key  # no dialog opened
        assert client.commands == [] or all(
            getattr(c, "name", None) != "gamma" for c in client.commands
        )


def test_snapshot_bots_table_with_a_bot_on_another_engine_120x40(snap_compare, fixed_clock):
    app = OxbotApp(d.ScriptedEngineClient(views()), clock=fixed_clock)
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
