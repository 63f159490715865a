"""The backtest screen opened for a bot (`B` on the dashboard): prefilled with the bot's
strategy (fixed), params, symbols, capital, fee and slippage; runs `oxbot backtest --bot`'s
simulation (oxbot.app.backtests.run_bot) in a thread worker over a folder of candle files and
shows one row per symbol, the total and the buy-and-hold baseline. Pilot and snapshot tests."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static
from tui_sim import SIM_T0, open_dialog, sim_bots, wait_until

from oxbot.tui.app import OxbotApp
from oxbot.tui.screens.backtest import BacktestScreen

T0 = 1_704_067_200_000  # 2024-01-01 UTC


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """The candle cache (storage/paths.py data_dir) under a temp OXBOT_HOME."""
    monkeypatch.setenv("OXBOT_HOME", str(tmp_path / "home"))


def write_folder(folder: Path, symbols: tuple[str, ...], timeframe: str, bars: int = 500) -> Path:
    """One deterministic wave per symbol (phases apart), named as the candle cache names them
    (``sim_<BASE>-<QUOTE>_<tf>.csv``), spaced by ``timeframe``."""
    from oxbot.engine.models import timeframe_seconds

    step = timeframe_seconds(timeframe) * 1000
    folder.mkdir(parents=True, exist_ok=True)
    for k, sym in enumerate(symbols):
        lines = ["timestamp,open,high,low,close,volume"]
        prev = 100.0
        for i in range(bars):
            close = 100 + 10 * math.sin(i / (12 + 3 * k) + k) + i * 0.01
            lines.append(
                f"{T0 + i * step},{prev:.2f},{max(prev, close) + 0.4:.2f},"
                f"{min(prev, close) - 0.4:.2f},{close:.2f},10"
            )
            prev = close
        name = f"sim_{sym.replace('/', '-')}_{timeframe}.csv"
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def report(screen: BacktestScreen) -> str:
    return str(screen.query_one("#bt-report", Static).render())


async def test_bot_backtest_prefilled_runs_per_symbol(scripted_client, fixed_clock, tmp_path):
    folder = write_folder(tmp_path / "candles", ("BTC/USDT",), "1m")
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "BacktestScreen", "B")
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        alpha = app.state.bots["alpha"].config
        assert screen.bot == alpha
        assert "Backtest bot alpha" in str(screen.query_one("#bt-title", Static).render())
        strategy = screen.query_one("#bt-strategy", Select)
        assert strategy.value == "sma_cross" and strategy.disabled
        assert screen.query_one("#bt-cash", Input).value == "10000"
        assert screen.query_one("#bt-fee", Input).value == "0.001"
        assert "BTC/USDT · 1m" in str(screen.query_one("#bt-note", Static).render())
        # a folder without the bot's symbol is named beside the field; Run waits
        screen.query_one("#bt-data", Input).value = str(tmp_path)
        await pilot.pause(0.1)
        assert "no 1m file for BTC/USDT" in str(screen.query_one("#e-data", Static).render())
        screen.query_one("#bt-data", Input).value = str(folder)
        screen.query_one("#p-fast", Input).value = "5"
        screen.query_one("#p-slow", Input).value = "20"
        screen.query_one("#bt-cash", Input).value = "2000"
        await pilot.pause(0.1)
        await pilot.press("ctrl+r")
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: screen.last_metrics is not None, "the report")
        m = screen.last_metrics
        assert m["bot"] == "alpha" and m["params"] == {"fast": 5, "slow": 20}
        assert m["start_cash"] == "2000.00" and m["trades"] > 0
        assert [r["symbol"] for r in m["per_symbol"]] == ["BTC/USDT"]
        text = report(screen)
        assert "BTC/USDT" in text and "total" in text and "hold %" in text
        # the price panel: the symbol's candles, the strategy's averages, one marker per fill
        from oxbot.tui.widgets.price_chart import PriceChart

        price = screen.query_one("#bt-price", PriceChart)
        await wait_until(pilot, lambda: price.data is not None, "the price panel")
        assert price.display and price.data.title.startswith("BTC/USDT: entries ▲, exits ▼")
        assert set(price.data.mas) == {"sma_5", "sma_20"}
        assert len(price.data.buys) + len(price.data.sells) == m["fills"] > 0
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert not isinstance(app.screen, BacktestScreen)


async def test_a_sweep_from_the_bot_screen_sweeps_the_bot_as_configured(
    scripted_client, fixed_clock, tmp_path
):
    """ctrl+s on a bot's backtest screen: the sweep runs the bot (all its symbols, its shared
    cash), not one CSV: the result names the bot, and a row's in-sample return is that of a
    plain bot backtest of the same params over the in-sample period."""
    from oxbot.app import backtests
    from oxbot.tui.screens.sweep import SweepScreen

    folder = write_folder(tmp_path / "candles", ("BTC/USDT",), "1m", bars=700)
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "BacktestScreen", "B")
        app.screen.query_one("#bt-data", Input).value = str(folder)
        await pilot.pause(0.1)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SweepScreen), "the sweep screen")
        screen = app.screen
        for part, v in zip(("from", "to", "step"), ("4", "8", "4"), strict=True):
            screen.query_one(f"#sw-{part}-fast", Input).value = v
        for part, v in zip(("from", "to", "step"), ("20", "30", "10"), strict=True):
            screen.query_one(f"#sw-{part}-slow", Input).value = v
        screen.query_one("#sw-jobs", Input).value = "1"
        await pilot.pause(0.1)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: not screen.running and (screen.result is not None or screen.last_error),
            "the sweep",
            timeout=120,
        )
        assert screen.last_error == "", screen.last_error
        result = screen.result
        assert result.source == "bot alpha" and len(result.rows) == 4
        best = result.rows[0]
        config = app.state.bots["alpha"].config
        config = config.model_copy(update={"params": {**config.params, **best.params}})
        csv = backtests.csv_in_folder(folder, config.exchange, config.symbols, config.timeframe)
        direct = backtests.run_bot(
            backtests.BotBacktest(config, csv, None, result.first_ts, result.split_ts)
        )
        assert direct.metrics["return_pct"] == pytest.approx(best.in_sample["return_pct"])


async def test_plain_b_still_opens_the_single_strategy_screen(scripted_client, fixed_clock):
    app = OxbotApp(scripted_client, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_dialog(pilot, "BacktestScreen", "b")
        assert app.screen.bot is None


class FixedClock:  # the header's clock, as in test_tui_snapshots.py
    def now_ms(self) -> int:
        return SIM_T0 + 5 * 60_000


def _bot_report(snap_compare, sim_client, size: tuple[int, int]) -> bool:
    # bot01 trades ETH/USDT and SOL/USDT; on 1h bars the annualised figures stay readable
    bots = [b.model_copy(update={"timeframe": "1h"}) for b in sim_bots(2, running=False)]
    write_folder(Path("candles"), bots[1].symbols, "1h")
    app = OxbotApp(sim_client(bots, 5, running=False), clock=FixedClock())
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await open_dialog(pilot, "DashboardScreen")
        await pilot.press("j")
        await open_dialog(pilot, "BacktestScreen", "B")
        screen = app.screen
        screen.query_one("#bt-data").value = "candles"
        await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: screen.last_metrics is not None, "the report")
        await pilot.pause(1.5)  # the chart is drawn after a refresh: slow on a loaded machine
        for inp in screen.query("Input"):
            inp.cursor_blink = False
        screen.query_one("#p-fast").focus()
        await pilot.pause(0.1)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def test_snapshot_bot_backtest_120x40(snap_compare, sim_client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative folder: the same picture on every run
    assert _bot_report(snap_compare, sim_client, (120, 40))


def test_snapshot_bot_backtest_80x24(snap_compare, sim_client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _bot_report(snap_compare, sim_client, (80, 24))


def test_symbol_rows_total_and_baseline() -> None:
    from oxbot.tui.screens.backtest import symbol_text

    m = {
        "per_symbol": [
            {
                "symbol": "ETH/USDT",
                "trades": 3,
                "win_rate": 66.6667,
                "pnl": "12.50",
                "fees": "1.20",
                "buy_hold_return_pct": -4.5,
            }
        ],
        "trades": 3,
        "win_rate": 66.6667,
        "final_equity": "1010.00",
        "start_cash": "1000.00",
        "fees_paid": "1.20",
        "buy_hold_return_pct": -4.5,
    }
    lines = symbol_text(m).plain.splitlines()
    assert lines[1].split() == ["ETH/USDT", "3", "66.7", "+12.50", "1.20", "-4.50"]
    assert lines[2].split() == ["total", "3", "66.7", "+10.00", "1.20", "-4.50"]
    narrow = symbol_text(m, wide=False).plain.splitlines()
    assert narrow[2].split() == ["total", "3", "+10.00", "-4.50"]
