"""The cockpit's Arena screen (A on the dashboard, tui/screens/arena.py): a runner handed to the
screen runs in a thread worker and reports partial results; the leaderboard ranks them by a
SORT_KEYS column (s, or a click on the header), errored contestants last with their error;
the overlaid equity chart with the baseline; a bad path or a bad file said in one line.

The runner here is a real function with the arena runner's contract (tui/screens/arena.py
Runner: the file's path and a progress callback called with the partial ArenaResult as
contestants finish, returning the whole one); its numbers are fixed ArenaResult values so the
pictures are the same on every run. What the tests rely on: ArenaResult.sorted_rows puts rows
whose column is None, and errored rows, last (app/arena_model.py); max drawdown is >= 0
(engine/backtest/metrics.py max_drawdown_pct), so lower ranks first.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, ProgressBar
from tui_pilot import screen_text
from tui_sim import wait_until

from oxbot.app.arena_model import ArenaResult, ContestantResult, EquitySeries
from oxbot.engine.errors import OxbotError
from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.arena import ArenaScreen
from oxbot.tui.screens.dashboard import DashboardScreen
from oxbot.tui.screens.help import HelpScreen

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HOUR = 3_600_000
BARS = 500
CASH = Decimal("10000")
NO_KEY = "no API key for anthropic: set ANTHROPIC_API_KEY or run `oxbot keys set anthropic`"


def row(name: str, kind: str, label: str, equity: str, **kw) -> ContestantResult:
    final = Decimal(equity)
    values = dict(
        return_pct=float((final - CASH) / CASH * 100),
        sharpe=None,
        max_drawdown_pct=0.0,
        win_rate_pct=None,
        trades=0,
        fees=Decimal(0),
    )
    values.update(kw)
    return ContestantResult(name, kind, label, CASH, final, final - CASH, **values)


ROWS = [
    row(
        "sma fast",
        "rule",
        "sma_cross fast=10 slow=30",
        "11234.56",
        sharpe=1.42,
        max_drawdown_pct=6.1,
        win_rate_pct=58.3,
        trades=12,
        fees=Decimal("23.40"),
    ),
    row(
        "gpt-4o-mini",
        "llm",
        "openai gpt-4o-mini",
        "10550.10",
        sharpe=0.87,
        max_drawdown_pct=9.8,
        win_rate_pct=50.0,
        trades=8,
        fees=Decimal("15.20"),
        llm_calls=480,
        tokens=612_400,
        llm_cost=Decimal("0.4712"),
        failures=2,
        calls_saved=20,
        return_per_dollar=11.67,
    ),
    row(
        "llama3 local",
        "llm",
        "ollama llama3.1:8b",
        "9612.40",
        max_drawdown_pct=7.2,
        fees=Decimal("4.00"),
        llm_calls=465,
        tokens=598_000,
        failures=11,
        calls_saved=35,
    ),
    row("claude haiku", "llm", "anthropic claude-3-5-haiku", "10000", error=NO_KEY),
    row(
        "buy & hold",
        "baseline",
        "buy & hold",
        "10830.00",
        sharpe=0.95,
        max_drawdown_pct=14.1,
        fees=Decimal("10.00"),
    ),
]
RETURN_ORDER = ["sma fast", "buy & hold", "gpt-4o-mini", "llama3 local", "claude haiku"]
DRAWDOWN_ORDER = ["sma fast", "llama3 local", "gpt-4o-mini", "buy & hold", "claude haiku"]


def curve(name: str, final: float, wobble: float, period: float) -> EquitySeries:
    ts = [T0 + i * HOUR for i in range(BARS)]
    step = (final - float(CASH)) / (BARS - 1)
    equity = [
        float(CASH) + step * i + wobble * math.sin(i / period) * (i / BARS) for i in range(BARS)
    ]
    equity[-1] = final
    return EquitySeries(name, ts, equity)


CURVES = {
    "sma fast": curve("sma fast", 11234.56, 260, 23),
    "gpt-4o-mini": curve("gpt-4o-mini", 10550.10, 420, 31),
    "llama3 local": curve("llama3 local", 9612.40, 300, 17),
    "buy & hold": curve("buy & hold", 10830.00, 700, 41),
}


def arena(done: int = len(ROWS)) -> ArenaResult:
    """The arena after ``done`` contestants finished (in the runner's order)."""
    rows = ROWS[:done]
    return ArenaResult(
        title="BTC rules vs models",
        market="csv binance_BTC-USDT_1h.csv",
        symbols=["BTC/USDT"],
        timeframe="1h",
        first_ms=T0,
        last_ms=T0 + (BARS - 1) * HOUR,
        start_cash=CASH,
        rows=list(rows),
        curves=[CURVES[r.name] for r in rows if r.name in CURVES],
        done=done,
        total=len(ROWS),
    )


class Runner:
    """Reports the contestants one by one; with ``hold_at``, waits after that many finished
    until ``release`` is set, reporting progress while it waits (as a long contestant would:
    a cancel stops it there)."""

    def __init__(self, hold_at: int | None = None, error: Exception | None = None) -> None:
        self.hold_at, self.error = hold_at, error
        self.release = threading.Event()
        self.calls: list[Path] = []
        self.thread: int | None = None

    def __call__(self, path, progress) -> ArenaResult:
        self.calls.append(path)
        self.thread = threading.get_ident()
        if self.error is not None:
            raise self.error
        for done in range(1, len(ROWS) + 1):
            progress(arena(done))
            if done == self.hold_at:
                while not self.release.wait(0.02):
                    progress(arena(done))
        return arena()


@pytest.fixture
def arena_file(tmp_path: Path) -> Path:
    path = tmp_path / "arena.toml"
    path.write_text('[arena]\ntitle = "BTC rules vs models"\n')  # read by the real runner only
    return path


def _app(client, clock) -> OxbotApp:
    app = OxbotApp(client, clock=clock)
    app.animation_level = "none"
    return app


async def open_arena(pilot, runner: Runner, path: Path | str) -> ArenaScreen:
    app = pilot.app
    await pilot.pause(0.05)
    screen = ArenaScreen(runner=runner, path=str(path))
    app.push_screen(screen)
    await wait_until(pilot, lambda: app.screen is screen, "the arena screen")
    await pilot.pause(0.05)
    return screen


async def run(pilot, screen: ArenaScreen) -> None:
    await pilot.press("ctrl+r")
    await wait_until(
        pilot,
        lambda: not screen.running and (screen.finished or screen.last_error),
        "the arena to finish",
    )
    await pilot.pause(0.1)


def cells(screen: ArenaScreen) -> dict[str, dict[str, str]]:
    """Each row's cells as text by column key, by contestant name."""
    table = screen.query_one("#ar-table", DataTable)
    keys = [str(c.key.value) for c in table.ordered_columns]
    out = {}
    for i in range(table.row_count):
        values = [str(c) for c in table.get_row_at(i)]
        out[ROWS_BY_SHOWN_NAME[values[1]]] = dict(zip(keys, values, strict=True))
    return out


def words(text: str) -> str:
    """The screen's text with each run of spaces and line ends as one space."""
    return " ".join(text.split())


ROWS_BY_SHOWN_NAME = {("◆ " if r.kind == "baseline" else "") + r.name: r.name for r in ROWS}


# --- the screen ----------------------------------------------------------------------------


async def test_capital_a_opens_the_arena_and_help_lists_it(scripted_client, fixed_clock):
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.05)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen), "the arena screen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        app.screen.query_one("#help-box").scroll_end(animate=False)  # the app's keys: last
        await pilot.pause(0.1)
        assert "app.arena" in screen_text(app)


async def test_a_finished_arena_ranks_by_return_errors_last(
    scripted_client, fixed_clock, arena_file
):
    runner = Runner()
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, runner, arena_file)
        await run(pilot, screen)
        assert screen.last_error == ""
        assert runner.calls == [arena_file]
        assert screen.order == RETURN_ORDER
        table = cells(screen)
        assert table["sma fast"]["rank"] == "1"
        assert table["sma fast"]["return_pct"] == "+12.35%"
        assert table["sma fast"]["pnl"] == "+1,234.56"
        assert table["sma fast"]["final_equity"] == "11,234.56"
        assert table["gpt-4o-mini"]["llm_cost"] == "$0.47"
        assert table["gpt-4o-mini"]["tokens"] == "612,400"
        assert table["llama3 local"]["sharpe"] == "n/a"
        assert table["llama3 local"]["return_per_dollar"] == "n/a"
        assert table["buy & hold"]["kind"] == "baseline"
        assert table["claude haiku"]["rank"] == "—"
        assert table["claude haiku"]["return_pct"] == "✖ error"
        assert table["claude haiku"]["error"] == NO_KEY
        text = screen_text(app)
        assert f"✖ claude haiku: {NO_KEY}" in text
        assert "◆ buy & hold (baseline)" in text  # the legend
        assert "return ▼" in text


async def test_s_and_a_header_click_change_the_order(scripted_client, fixed_clock, arena_file):
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, Runner(), arena_file)
        await run(pilot, screen)
        await pilot.press("s", "s", "s")  # return -> P&L -> Sharpe -> max drawdown
        await pilot.pause(0.05)
        assert screen.sort_key == "max_drawdown_pct"
        assert screen.order == DRAWDOWN_ORDER  # lowest drawdown first
        assert "max DD ▲" in screen_text(app)
        # a click on the return header: ranked by return again, highest first
        table = screen.query_one("#ar-table", DataTable)
        x = 0
        for column in table.ordered_columns:
            if column.key.value == "return_pct":
                break
            x += column.get_render_width(table)
        await pilot.click("#ar-table", offset=(x + 2, 0))
        await pilot.pause(0.05)
        assert screen.sort_key == "return_pct"
        assert screen.order == RETURN_ORDER
        await pilot.click("#ar-table", offset=(x + 2, 0))  # again: the other way round
        await pilot.pause(0.05)
        assert screen.order == ["llama3 local", "gpt-4o-mini", "buy & hold", "sma fast"] + [
            "claude haiku"
        ]


async def test_a_path_without_a_file_is_said_and_nothing_runs(
    scripted_client, fixed_clock, tmp_path
):
    runner = Runner()
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_arena(pilot, runner, tmp_path / "nope.toml")
        await run(pilot, screen)
        assert runner.calls == []
        assert screen.last_error == f"no arena file at {tmp_path / 'nope.toml'}"
        assert "✖ no arena file at" in screen_text(app)
        assert isinstance(app.screen, ArenaScreen)
        screen.query_one("#ar-path", Input).value = ""
        await run(pilot, screen)
        assert "give the path of an arena file" in screen.last_error


async def test_a_bad_file_is_said_in_one_line(scripted_client, fixed_clock, arena_file):
    why = f"{arena_file}: [arena] capital: give a positive amount, e.g. capital = 10000"
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, Runner(error=OxbotError(why)), arena_file)
        await run(pilot, screen)
        assert screen.last_error == why
        assert f"✖ {why}" in words(screen_text(app))  # wrapped under the path field
        assert screen.result is None
        # a crash of the runner itself is said too, never a stuck "running"
        screen.runner = Runner(error=KeyError("contestant"))
        await run(pilot, screen)
        assert screen.last_error == "KeyError: 'contestant'"


async def test_the_run_is_off_the_loop_keys_work_during_it(
    scripted_client, fixed_clock, arena_file
):
    runner = Runner(hold_at=3)
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, runner, arena_file)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot, lambda: screen.result is not None and screen.result.done == 3, "3 finished"
        )
        assert runner.thread != threading.get_ident()  # the runner is in a worker thread
        assert screen.running and "3/5 contestants finished" in screen_text(app)
        assert screen.order == ["sma fast", "gpt-4o-mini", "llama3 local"]  # live, partial
        await pilot.press("s", "s", "s")  # handled while the runner is busy
        await pilot.pause(0.05)
        assert screen.running
        assert screen.order == ["sma fast", "llama3 local", "gpt-4o-mini"]  # by drawdown
        runner.release.set()
        await wait_until(pilot, lambda: screen.finished, "the arena to finish")
        assert screen.order == DRAWDOWN_ORDER  # the chosen ranking is kept


async def test_escape_during_a_run_cancels_it(scripted_client, fixed_clock, arena_file):
    runner = Runner(hold_at=2)
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, runner, arena_file)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.result is not None, "the first contestants")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.running, "the cancel")
        assert screen.last_error == "cancelled"
        assert not screen.finished
        assert isinstance(app.screen, ArenaScreen)  # the first escape cancels, the next leaves
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


# --- snapshots -----------------------------------------------------------------------------


def _picture(snap_compare, client, clock, path: Path, size, hold_at: int | None) -> bool:
    runner = Runner(hold_at=hold_at)
    app = _app(client, clock)

    async def run_before(pilot) -> None:
        screen = await open_arena(pilot, runner, path)
        if hold_at is None:
            await run(pilot, screen)
            assert screen.last_error == ""
        else:
            await pilot.press("ctrl+r")
            await wait_until(
                pilot,
                lambda: screen.result is not None and screen.result.done == hold_at,
                "the running arena",
            )
        await pilot.pause(0.3)

    return snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_arena_finished(
    snap_compare, scripted_client, fixed_clock, arena_file, monkeypatch, size
):
    monkeypatch.chdir(arena_file.parent)  # the path field shows "arena.toml" on every run
    assert _picture(snap_compare, scripted_client, fixed_clock, Path("arena.toml"), size, None)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_arena_running(
    snap_compare, scripted_client, fixed_clock, arena_file, monkeypatch, size
):
    monkeypatch.chdir(arena_file.parent)
    assert _picture(snap_compare, scripted_client, fixed_clock, Path("arena.toml"), size, 2)


# --- with the real runner and exports (app/arena.py, app/arena_export.py) ---------------------


async def test_the_example_arena_runs_in_the_cockpit_and_exports(
    scripted_client, fixed_clock, tmp_path, monkeypatch
):
    """A as a new user: the path field holds examples/arena.toml (the sim market, rule
    strategies: offline), ctrl+r runs the real oxbot.app.arena.run_arena, ctrl+o writes the
    CSV, JSON and Markdown report with its chart (oxbot.app.arena_export.write)."""
    arena_mod = pytest.importorskip("oxbot.app.arena", reason="the arena runner is not merged")
    from oxbot.app.arena_spec import BASELINE_NAME
    from oxbot.tui.screens.arena import EXAMPLE

    monkeypatch.setenv("OXBOT_HOME", str(tmp_path))
    spec = arena_mod.load_arena(EXAMPLE)
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.05)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen), "the arena screen")
        screen = app.screen
        assert screen.query_one("#ar-path", Input).value == str(EXAMPLE)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: not screen.running and (screen.finished or screen.last_error),
            "the example arena",
            timeout=180,
        )
        assert screen.last_error == ""
        names = {c.name for c in spec.contestants} | {BASELINE_NAME}
        assert set(screen.order) == names
        assert all(r.error is None for r in screen.result.rows)
        assert {c.name for c in screen.result.curves} == names
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.last_export is not None, "the export")
        base = screen.last_export
        for suffix in (".csv", ".json", ".md", ".svg"):  # the report's chart beside it
            assert base.with_name(base.name + suffix).is_file()
        csv_text = base.with_name(base.name + ".csv").read_text()
        for name in names:
            assert name in csv_text


@dataclass
class Tallied(ArenaResult):
    """ArenaResult with the runner's tallies (app/arena.py adds these fields to the model)."""

    fraction: float = 0.0
    calls_now: int = 0
    spent_now: Decimal = Decimal(0)


async def test_the_bar_never_goes_back_and_the_status_counts_model_calls(
    scripted_client, fixed_clock, arena_file
):
    """The runner's ``fraction`` leaves the baseline out, so it can be below done/total: the
    bar shows the larger and never moves back; the calls and dollars of this run are said."""
    more, release = threading.Event(), threading.Event()

    def runner(path, progress):
        base = vars(arena(1))  # the baseline finished: 1/5
        progress(Tallied(**base))
        while not more.wait(0.02):  # 0.1 of the others' candles: below 1/5
            progress(Tallied(**{**base, "fraction": 0.1, "calls_now": 1}))
        while not release.wait(0.02):
            tallied = {"fraction": 0.3, "calls_now": 7, "spent_now": Decimal("0.0123")}
            progress(Tallied(**{**base, **tallied}))
        return arena()

    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, runner, arena_file)
        bar = screen.query_one("#ar-progress", ProgressBar)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "1 model call," in screen_text(app), "0.1 of the candles")
        assert bar.progress == 200  # 1/5, not 0.1
        more.set()
        await wait_until(pilot, lambda: bar.progress == 300, "0.3 of the candles")
        assert "1/5 contestants finished · 7 model calls, $0.01 spent" in screen_text(app)
        release.set()
        await wait_until(pilot, lambda: screen.finished, "the arena to finish")


async def test_ranking_by_a_column_off_an_80_column_screen_scrolls_to_it(
    scripted_client, fixed_clock, arena_file
):
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_arena(pilot, Runner(), arena_file)
        await run(pilot, screen)
        assert "tokens" not in screen_text(app)  # off to the right
        await pilot.press(*"s" * 8)  # return, P&L, Sharpe, DD, win %, trades, fees, calls, tokens
        await pilot.pause(0.1)
        assert screen.sort_key == "tokens"
        text = screen_text(app)
        assert "tokens ▼" in text
        assert "gpt-4o-mini" in text and "612,400" in text  # the names stay beside it
        await pilot.press(*"s" * 5)  # back to return, the first column after the names
        await pilot.pause(0.1)
        assert screen.sort_key == "return_pct" and "return ▼" in screen_text(app)


async def test_rows_that_are_na_in_the_sorted_column_are_unranked_and_last(
    scripted_client, fixed_clock, arena_file
):
    """adv15b F15: ranked by Sharpe, a row whose Sharpe is n/a got a rank number in file order;
    now it has none ("—") and comes after the ranked rows, before the errors."""
    app = _app(scripted_client, fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_arena(pilot, Runner(), arena_file)
        await run(pilot, screen)
        await pilot.press("s", "s")  # return -> P&L -> Sharpe
        await pilot.pause(0.05)
        assert screen.sort_key == "sharpe"
        table = cells(screen)
        assert table["llama3 local"]["sharpe"] == "n/a"
        assert table["llama3 local"]["rank"] == "—"
        ranked = [n for n in screen.order if table[n]["rank"] != "—"]
        assert [table[n]["rank"] for n in ranked] == [str(i + 1) for i in range(len(ranked))]
        assert screen.order[len(ranked) :] == ["llama3 local", "claude haiku"]
