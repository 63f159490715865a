"""The backtest screen: `b` opens it, a real backtest runs in a thread worker over a generated
CSV, the report and chart appear; bad input is named beside its field or in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, OptionList, Select, Static
from tui_sim import write_csv

from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.backtest import BacktestScreen
from oxbot.tui.screens.dashboard import DashboardScreen


async def _open(pilot, csv: Path) -> BacktestScreen:
    await pilot.pause(0.05)
    await pilot.press("b")
    await pilot.pause(0.1)
    screen = pilot.app.screen
    assert isinstance(screen, BacktestScreen)
    screen.query_one("#bt-data", Input).value = str(csv)
    await pilot.pause(0.05)
    return screen


async def _run(pilot, screen: BacktestScreen) -> None:
    await pilot.press("ctrl+r")
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.1)


def _lines(screen: BacktestScreen) -> list[str]:
    return _text(screen, "#bt-report").splitlines()


def _text(screen: BacktestScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_backtest_runs_reruns_and_escape_returns(scripted_client, fixed_clock, tmp_path):
    csv = write_csv(tmp_path / "x_BTC-USDT_1h.csv", 400)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, csv)
        # llm is not offered, and the screen says why
        offered = screen.query_one("#bt-strategy", Select).query_one(OptionList)
        options = [str(offered.get_option_at_index(i).prompt) for i in range(offered.option_count)]
        assert "llm" not in options and "sma_cross" in options
        assert "llm is backtested as a bot" in _text(screen, "#bt-note")
        screen.query_one("#p-fast", Input).value = "5"
        screen.query_one("#p-slow", Input).value = "20"
        await _run(pilot, screen)
        first = screen.last_metrics
        assert first is not None and first["trades"] > 0 and first["bars"] == 400
        report = _text(screen, "#bt-report")
        for label in (
            "final equity",
            "return",
            "CAGR",
            "max drawdown",
            "Sharpe",
            "Sortino",
            "win rate",
            "profit factor",
            "exposure",
            "fees paid",
            "buy & hold",
            "Calmar",
            "drawdown time",
            "expectancy",
            "trades/day",
            "average hold",
            "n/a below 30 return periods or 10 closed trades",
        ):
            assert label in report
        assert "fast=5 slow=20" in report and "BTC/USDT" in report
        # change a parameter and the range, run again in place
        screen.query_one("#p-slow", Input).value = "40"
        screen.query_one("#bt-since", Input).value = "2024-01-05"
        await _run(pilot, screen)
        second = screen.last_metrics
        assert second is not None and second["params"]["slow"] == 40
        assert second["bars"] == 400 - 4 * 24
        # two columns of metrics at 120 columns; one below 100 (the screen's breakpoint)
        assert any(line.split()[:1] == ["trades"] and "Sharpe" in line for line in _lines(screen))
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        lines = _lines(screen)
        assert not any("trades" in line and "Sharpe" in line for line in lines)
        assert any(line.split()[:1] == ["Sharpe"] for line in lines)
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.parametrize(
    "content, says",
    [
        ("timestamp,open,high,low,close,volume\n1,2,3\n", "line"),
        ("date,price\n2024-01-01,5\n", "header"),
    ],
)
async def test_malformed_csv_is_reported_not_crashed(
    scripted_client, fixed_clock, tmp_path, content, says
):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, bad)
        await _run(pilot, screen)
        assert screen.last_metrics is None and says in screen.last_error
        assert says in _text(screen, "#bt-report")


async def test_bad_fields_are_named_beside_them(scripted_client, fixed_clock, tmp_path):
    csv = write_csv(tmp_path / "short.csv", 25)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, tmp_path / "missing.csv")
        assert "does not exist" in _text(screen, "#e-data")
        assert screen.query_one("#bt-run", Button).disabled
        screen.query_one("#bt-data", Input).value = str(csv)
        screen.query_one("#p-fast", Input).value = "ten"
        screen.query_one("#bt-fee", Input).value = "0.5"
        screen.query_one("#bt-since", Input).value = "yesterday"
        await pilot.pause(0.05)
        assert _text(screen, "#e-data") == ""
        assert "integer" in _text(screen, "#e-p-fast")
        assert "below 0.1" in _text(screen, "#e-fee")
        assert "not a date" in _text(screen, "#e-since")
        assert screen.query_one("#bt-run", Button).disabled
        screen.query_one("#p-fast", Input).value = "10"
        screen.query_one("#bt-fee", Input).value = "0.001"
        screen.query_one("#bt-since", Input).value = ""
        await pilot.pause(0.05)
        assert not screen.query_one("#bt-run", Button).disabled
        await _run(pilot, screen)  # 25 bars: too few for slow=30
        assert screen.last_metrics is None and "needs at least" in screen.last_error
