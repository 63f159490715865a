"""The bots table's "next in" counts down between the engine's events: the newest market time
moved on by the app's clock since it came (tui/widgets/bots_table.py ``_market_now``; the
dashboard redraws the table every second, tui/screens/dashboard.py), and a cron bot says so
beside its timeframe."""

from __future__ import annotations

from dataclasses import replace

import tui_doubles as d
from tui_pilot import ready as _ready

from oxbot.tui.app import OxbotApp
from oxbot.tui.widgets.bots_table import BotsTable


async def test_next_in_counts_down_on_the_app_clock(fixed_clock):
    alpha = d.bot_view("alpha")  # next cycle at T0 + 120 s
    cron = replace(alpha, name="tick", config=alpha.config.model_copy(update={"cron": "0 * * * *"}))
    app = OxbotApp(d.ScriptedEngineClient([alpha, cron]), clock=fixed_clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await _ready(pilot)
        table = app.screen.query_one(BotsTable)
        table.show([alpha, cron], d.T0 + 60_000)
        assert table.row_text("alpha")["next"] == "1m00s"
        fixed_clock.ms += 15_000  # no new market time meanwhile
        table.show([alpha, cron], d.T0 + 60_000)
        assert table.row_text("alpha")["next"] == "45s"
        fixed_clock.ms += 60_000
        table.show([alpha, cron], d.T0 + 60_000)
        assert table.row_text("alpha")["next"] == "now"
        table.show([alpha, cron], d.T0 + 100_000)  # a new market time: read as it is
        assert table.row_text("alpha")["next"] == "20s"
        assert table.row_text("tick")["tf"].endswith("cron")
        assert table.row_text("alpha")["tf"] == "1m"
