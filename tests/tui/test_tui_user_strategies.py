"""User strategy files in the cockpit: the bot form offers them with fields built from their
schema and says which field is out of which range; a stored bot whose file does not load shows
the error in its row and a toast, refuses to start with the message, and starts once the file
is fixed, without restarting the cockpit's engine; the README's example strategy, added and
started from the form on the sim market at max speed, trades.

What this relies on: the loader reads `$OXBOT_HOME/config/strategies` (storage/paths.py
`strategies_dir`, reading OXBOT_HOME at each call); `n` opens the new-bot form and `s` starts
the selected bot (tui/screens/dashboard.py BINDINGS); a new bot is added stopped and selected
(tui/screens/bot_actions.py `_config_saved`, `command_done`); a form field's error line is
`#e-p-<field>` (tui/screens/bot_config.py `param_rows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Select
from tui_pilot import notifications, screen_text
from tui_sim import sim_bots
from waiting import describe, wait_for

from oxbot.engine import messages as m
from oxbot.engine.models import BotConfig
from oxbot.engine.strategies import loader
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.bot_config import BotConfigScreen

MINE = """
from pydantic import Field
from oxbot.engine.strategies import SMA, Strategy, StrategyParams, cross_signals

class P(StrategyParams):
    fast: int = Field(3, ge=2, le=50, description="fast SMA length")
    slow: int = Field(8, ge=3, le=200)

class Mine(Strategy):
    name = "mine"
    Params = P
    def indicators(self):
        return [SMA(self.params.fast), SMA(self.params.slow)]
    def signals(self, frame):
        p = self.params
        return cross_signals(frame[f"sma_{p.fast}"].to_numpy(float),
                             frame[f"sma_{p.slow}"].to_numpy(float))
"""


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))
    d = tmp_path / "home" / "config" / "strategies"
    d.mkdir(parents=True)
    yield d
    for f in d.glob("*.py"):  # the registry is the process's: take the test's names out
        f.unlink()
    loader.discover(d, entry_points=False)


def readme_example() -> tuple[str, str]:
    """(strategy name, code) of the README's "Write your own strategy" example."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Write your own strategy", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    name = code.split('name = "', 1)[1].split('"', 1)[0]
    return name, code


async def wait_until(pilot, predicate, timeout: float = 20.0) -> None:
    await wait_for(
        predicate,
        timeout,
        describe(predicate),
        pause=lambda: pilot.pause(0.05),
        detail=lambda: screen_text(pilot.app),
    )


def error_text(screen: BotConfigScreen, field: str) -> str:
    w = screen.query_one(f"#e-{field}")
    return str(w.render()) if w.display else ""


async def open_form(pilot) -> BotConfigScreen:
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, BotConfigScreen))
    await pilot.pause(0.1)
    return pilot.app.screen


async def test_the_form_offers_a_user_strategy_with_its_schema_and_ranges(
    scripted_client, fixed_clock, strategies
) -> None:
    (strategies / "mine.py").write_text(MINE)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_form(pilot)
        await pilot.press(*"u-mine")
        choice = screen.query_one("#f-strategy", Select)
        assert "mine" in [value for _label, value in choice._options]
        choice.value = "mine"
        await pilot.pause(0.2)
        fast = screen.query_one("#p-fast", Input)
        assert fast.value == "3"  # the schema's default
        assert str(fast.tooltip) == "fast SMA length; range 2 to 50; default 3"
        assert screen.query_one("#p-slow", Input).value == "8"
        fast.value = "99"
        await pilot.pause(0.1)
        said = error_text(screen, "p-fast")
        assert "fast: Input should be less than or equal to 50 (range 2 to 50)" in said
        assert screen.query_one("#save", Button).disabled
        fast.value = "4"
        await pilot.pause(0.1)
        assert error_text(screen, "p-fast") == ""
        assert not screen.query_one("#save", Button).disabled
        await pilot.click("#save")
        await pilot.pause(0.1)
        (add,) = [c for c in scripted_client.commands if isinstance(c, m.AddBot)]
        assert add.config.strategy == "mine"
        assert add.config.params == {"fast": 4, "slow": 8}


async def test_a_bot_whose_file_broke_shows_the_error_refuses_and_starts_once_fixed(
    sim_client, strategies
) -> None:
    path = strategies / "mine.py"
    path.write_text("import nothing_here_at_all\n")
    broken = BotConfig(name="u-mine", strategy="mine", symbols=("BTC/USDT",), timeframe="1m")
    app = OxbotApp(sim_client([broken, *sim_bots(1)], candles=400))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: {"u-mine", "bot00"} <= set(app.state.bots))
        await wait_until(pilot, lambda: app.state.bots["u-mine"].status.value == "error")
        await wait_until(pilot, lambda: "✖ error: mine.py:1" in screen_text(app))
        assert f"{path}:1: ModuleNotFoundError" in app.state.bots["u-mine"].last_error
        assert app.state.bots["bot00"].status.value == "running"  # the other bot runs
        await wait_until(
            pilot,
            lambda: any(f"{path}:1: ModuleNotFoundError" in n.message for n in notifications(app)),
        )

        app.dashboard.query_one("BotsTable").select_name("u-mine")
        await pilot.pause(0.1)
        notifications(app).clear()
        await pilot.press("s")
        await wait_until(
            pilot,
            lambda: any(
                "did not load" in n.message and f"{path}:1" in n.message for n in notifications(app)
            ),
        )
        assert app.state.bots["u-mine"].status.value == "error"

        await pilot.press("e")  # its form opens and says why, instead of failing
        await wait_until(pilot, lambda: isinstance(app.screen, BotConfigScreen))
        form = app.screen
        await pilot.pause(0.1)
        said = str(form.query_one("#params-unloaded").render())
        assert f"{path}:1: ModuleNotFoundError" in said
        assert form.query_one("#save", Button).disabled
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, BotConfigScreen))

        path.write_text(MINE)  # fixed: the same engine starts it
        await pilot.press("s")
        await wait_until(pilot, lambda: app.state.bots["u-mine"].status.value == "running")
        await wait_until(pilot, lambda: "error: mine.py" not in screen_text(app))


async def test_the_readme_strategy_trades_in_the_cockpit(sim_client, strategies) -> None:
    name, code = readme_example()
    (strategies / f"{name}.py").write_text(code)
    app = OxbotApp(sim_client([], candles=600))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        await pilot.press(*"readme")
        screen.query_one("#f-strategy", Select).value = name
        await pilot.pause(0.2)
        # short windows, entries unfiltered: it trades within the sim's few hundred candles
        screen.query_one("#p-ema", Input).value = "5"
        screen.query_one("#p-rsi", Input).value = "5"
        screen.query_one("#p-rsi_max", Input).value = "99"
        screen.query_one("#f-timeframe", Select).value = "1m"
        await pilot.pause(0.1)
        assert not screen.query_one("#save", Button).disabled, screen.field_errors
        await pilot.click("#save")
        await wait_until(pilot, lambda: "readme" in app.state.bots)
        await wait_until(pilot, lambda: app.dashboard.query_one("BotsTable").selected == "readme")
        await pilot.press("s")
        await wait_until(pilot, lambda: app.state.bots["readme"].status.value == "running")
        await wait_until(pilot, lambda: any(f.bot == "readme" for f in app.state.fills), 60)
        assert app.state.bots["readme"].config.strategy == name
        await wait_until(pilot, lambda: "readme BUY" in screen_text(app))  # the Fills panel


def test_snapshot_a_bot_whose_strategy_does_not_load_120x40(
    snap_compare, sim_client, strategies, monkeypatch
) -> None:
    """The error row beside running bots (tests/tui/test_tui_snapshots.py's set-up: the seeded
    sim played to a fixed candle, a fixed header clock, a trailing equity window)."""
    from tui_sim import SIM_T0, settle

    candles = 61
    monkeypatch.setattr("oxbot.tui.state.EQUITY_POINTS", 50)
    (strategies / "mine.py").write_text("import nothing_here_at_all\n")
    broken = BotConfig(name="u-mine", strategy="mine", symbols=("BTC/USDT",), timeframe="1m")

    class FixedClock:
        def now_ms(self) -> int:
            return SIM_T0 + candles * 60_000

    app = OxbotApp(sim_client([*sim_bots(2), broken], candles), clock=FixedClock())
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await settle(pilot, candles)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
